//! A real Redis Cluster for tests: six `redis-server` processes (three
//! masters, one replica each) on free loopback ports, in a temporary
//! directory, joined by `redis-cli --cluster create --cluster-replicas 1`,
//! with a short `cluster-node-timeout` (1 s) so a killed master's replica
//! takes over within seconds. Every process is killed on drop.
//!
//! `redis-server` and `redis-cli` must be installed (`scripts/ensure-tools`
//! installs `redis-server`, which brings `redis-tools`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const NODES: usize = 6;

/// One `redis-server` of the cluster.
struct Node {
    port: u16,
    child: Option<Child>,
}

/// A running cluster, stopped when dropped.
pub struct Cluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

/// `n` distinct free loopback ports (all bound at once, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("a bound address").port())
        .collect()
}

/// `redis-cli -p PORT ARGS...`: its standard output, or `None` when it
/// could not run or the node did not answer.
fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !text.starts_with("Could not connect")).then_some(text)
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Cluster starts in this process, one at a time. From picking free ports
/// until each node has bound its own, the ports are free again, and a
/// cluster starting in parallel (tests of one binary run in parallel)
/// could be handed the same ones: a node of each on one port, both
/// clusters broken.
static STARTING: Mutex<()> = Mutex::new(());

impl Cluster {
    /// Starts six nodes, creates the cluster and waits until every node
    /// says `cluster_state:ok` and every replica is in sync.
    pub fn start() -> Cluster {
        let starting = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        // Another process can still take a port before its node binds it:
        // that node exits, and the nodes start again on new ports.
        let c = (0..3)
            .find_map(|_| Cluster::nodes())
            .expect("six redis-server nodes on free ports, in three tries");
        drop(starting);
        c.create();
        c
    }

    /// Six nodes on free ports, each answering from its own process, or
    /// `None` when a port turned out to be another process's.
    fn nodes() -> Option<Cluster> {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-redis-cluster-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let ports = free_ports(2 * NODES);
        let mut c = Cluster {
            nodes: Vec::new(),
            dir,
        };
        for pair in ports.chunks(2) {
            let node = c.spawn(pair[0], pair[1]);
            c.nodes.push(node);
        }
        for n in &c.nodes {
            let pid = n.child.as_ref().map(Child::id)?;
            let mut answer = None;
            wait_until("a node answers", Duration::from_secs(10), || {
                answer = cli(n.port, &["INFO", "server"]);
                answer.is_some()
            });
            let served_by = answer
                .as_deref()
                .and_then(|a| a.lines().find_map(|l| l.trim().strip_prefix("process_id:")))
                .and_then(|p| p.parse::<u32>().ok());
            if served_by != Some(pid) {
                return None;
            }
        }
        Some(c)
    }

    fn spawn(&self, port: u16, bus: u16) -> Node {
        let conf = self.dir.join(format!("nodes-{port}.conf"));
        let log = self.dir.join(format!("redis-{port}.log"));
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--cluster-port", &bus.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .arg("--cluster-config-file")
            .arg(&conf)
            .args(["--cluster-node-timeout", "1000"])
            .args(["--appendonly", "no"])
            .args(["--save", ""])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}); install it with scripts/ensure-tools")
            });
        Node {
            port,
            child: Some(child),
        }
    }

    fn create(&self) {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}); install redis-tools"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        self.wait_ok(Duration::from_secs(20));
        for n in &self.nodes {
            wait_until("replicas in sync", Duration::from_secs(20), || {
                cli(n.port, &["INFO", "replication"]).is_some_and(|r| {
                    r.contains("role:master") || r.contains("master_link_status:up")
                })
            });
        }
    }

    /// Waits until every live node says `cluster_state:ok` and sees every
    /// slot served.
    pub fn wait_ok(&self, limit: Duration) {
        for port in self.live_ports() {
            wait_until("cluster_state:ok", limit, || {
                cli(port, &["CLUSTER", "INFO"]).is_some_and(|r| {
                    r.contains("cluster_state:ok") && r.contains("cluster_slots_ok:16384")
                })
            });
        }
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// Seed URLs: every node.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect()
    }

    /// The port of the master serving `key`'s slot, as a live node sees it.
    pub fn master_of(&self, key: &str) -> u16 {
        self.try_master_of(key)
            .unwrap_or_else(|| panic!("no live master serves the slot of `{key}`"))
    }

    fn try_master_of(&self, key: &str) -> Option<u16> {
        let port = *self.live_ports().first()?;
        let slot: u16 = cli(port, &["CLUSTER", "KEYSLOT", key])?
            .trim()
            .parse()
            .ok()?;
        let nodes = cli(port, &["CLUSTER", "NODES"])?;
        for line in nodes.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 9 || !f[2].contains("master") || f[2].contains("fail") {
                continue;
            }
            let serves = f[8..].iter().any(|r| {
                let mut ends = r.split('-').map(|x| x.parse::<u16>().ok());
                match (ends.next().flatten(), ends.next()) {
                    (Some(a), None) => a == slot,
                    (Some(a), Some(Some(b))) => (a..=b).contains(&slot),
                    _ => false,
                }
            });
            if serves {
                let addr = f[1].split('@').next()?;
                return addr.rsplit(':').next()?.parse().ok();
            }
        }
        None
    }

    /// Waits until every replica of the master on `port` has acknowledged
    /// all its writes so far (each `slaveN:...,offset=X` line of its `INFO
    /// replication` at its `master_repl_offset`): killing it then loses
    /// nothing.
    pub fn wait_replicated(&self, port: u16, limit: Duration) {
        wait_until("replicas caught up", limit, || {
            let Some(info) = cli(port, &["INFO", "replication"]) else {
                return false;
            };
            let field = |line: &str, name: &str| -> Option<u64> {
                line.split([':', ',']).find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k.trim() == name).then(|| v.trim().parse().ok())?
                })
            };
            let master = info
                .lines()
                .find_map(|l| l.strip_prefix("master_repl_offset:"))
                .and_then(|v| v.trim().parse::<u64>().ok());
            let replicas: Vec<Option<u64>> = info
                .lines()
                .filter(|l| l.starts_with("slave") && l.contains("offset="))
                .map(|l| field(l, "offset"))
                .collect();
            master.is_some() && !replicas.is_empty() && replicas.iter().all(|o| *o == master)
        });
    }

    /// Kills the node on `port` (SIGKILL: no goodbye to the cluster).
    pub fn kill(&mut self, port: u16) {
        let n = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of the cluster");
        if let Some(mut c) = n.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits until `key`'s slot is served by a live master other than
    /// `killed` and the cluster is whole again.
    pub fn wait_failover(&self, key: &str, killed: u16, limit: Duration) {
        wait_until("a replica took over", limit, || {
            self.try_master_of(key).is_some_and(|p| p != killed)
        });
        self.wait_ok(limit);
    }
}

/// A slot being moved from one master to another, by hand (`CLUSTER
/// SETSLOT`, `MIGRATE`), as a resharding does it.
pub struct Migration {
    slot: String,
    from: u16,
    to: u16,
    to_id: String,
    masters: Vec<u16>,
}

impl Cluster {
    /// Starts moving the slot of `key` to another master: the source
    /// answers `ASK` for its keys already moved.
    pub fn migrate_slot_of(&self, key: &str) -> Migration {
        let port = self.live_ports()[0];
        let slot = cli(port, &["CLUSTER", "KEYSLOT", key]).expect("CLUSTER KEYSLOT");
        let slot = slot.trim().to_owned();
        let from = self.master_of(key);
        let masters: Vec<u16> = self
            .live_ports()
            .into_iter()
            .filter(|p| cli(*p, &["ROLE"]).is_some_and(|r| r.starts_with("master")))
            .collect();
        let to = *masters
            .iter()
            .find(|p| **p != from)
            .expect("another master");
        let id = |p: u16| {
            cli(p, &["CLUSTER", "MYID"])
                .expect("CLUSTER MYID")
                .trim()
                .to_owned()
        };
        let (from_id, to_id) = (id(from), id(to));
        let ok = |p: u16, args: &[&str]| {
            let r = cli(p, args).unwrap_or_default();
            assert_eq!(r.trim(), "OK", "{args:?} on {p}");
        };
        ok(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]);
        ok(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]);
        Migration {
            slot,
            from,
            to,
            to_id,
            masters,
        }
    }
}

impl Migration {
    /// Moves one key of the slot to the target.
    pub fn move_key(&mut self, key: &str) {
        let to = self.to.to_string();
        let r = cli(
            self.from,
            &["MIGRATE", "127.0.0.1", &to, "", "0", "5000", "KEYS", key],
        )
        .unwrap_or_default();
        assert_eq!(r.trim(), "OK", "MIGRATE {key}");
    }

    /// Gives the slot to the target on every master.
    pub fn finish(self) {
        for p in [self.to, self.from]
            .into_iter()
            .chain(self.masters.iter().copied())
        {
            let r = cli(p, &["CLUSTER", "SETSLOT", &self.slot, "NODE", &self.to_id])
                .unwrap_or_default();
            assert_eq!(r.trim(), "OK", "SETSLOT NODE on {p}");
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
