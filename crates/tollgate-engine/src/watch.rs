//! Reload a [`PolicyHandle`] when its files change (cargo feature `watch`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use tollgate_engine::{PolicyHandle, WatchOptions};
//! use tollgate_lang::LoadOptions;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let handle = Arc::new(PolicyHandle::load("/etc/tollgate/policy.toml", LoadOptions::default())?);
//! let watcher = handle.watch(WatchOptions::default())?; // stops when dropped
//! # drop(watcher);
//! # Ok(())
//! # }
//! ```
//!
//! One thread per [`Watcher`] receives file-system events (crate `notify`:
//! inotify, FSEvents, ReadDirectoryChangesW), waits for the writes to
//! settle, then calls [`PolicyHandle::reload`], which installs the new
//! policy only if it passes the reload gate. Dropping the `Watcher` stops
//! the thread.
//!
//! # Why the parent directory is watched
//!
//! Editors and deploy tools rarely write a file in place: they write a
//! temporary file and rename it over the old one (vim, VS Code, `sed -i`,
//! Ansible, `kubectl cp`), and a Kubernetes ConfigMap volume changes by
//! swapping a symlink: `policy.toml -> ..data/policy.toml`, with
//! `..data -> ..2026_01_01_xx` replaced by renaming a fresh `..data_tmp`
//! link over it. A watch on the file itself follows the *old* inode and
//! goes silent after the first such update. So a file policy is watched
//! through its parent directory (non-recursive) and reacts to any event
//! naming the file or `..data`; a directory policy is watched itself and
//! reacts to any `*.toml` file not starting with `.` (the files the loader
//! reads) or `..data`. Access events (including the reload's own reads)
//! are ignored, except "closed after writing".
//!
//! # Why debounce
//!
//! One save is several events (create, write, close, rename; or truncate
//! then write), and reading between them sees an empty or half-written
//! file. The watcher waits until no relevant event has arrived for
//! [`WatchOptions::debounce`] (15 ms by default, and never more than ten
//! debounce periods after the first event of a burst) before reloading,
//! so a save costs one reload. A half-written file that still slips
//! through is refused by the gate and the complete file's event triggers
//! the next reload: the old policy serves meanwhile.
//!
//! # Polling
//!
//! Where native events do not work (NFS, some container overlay set-ups,
//! inotify watch limits reached) set [`WatchOptions::use_polling`]; the
//! watcher also falls back to polling by itself when the native watcher
//! cannot start ([`Watcher::mode`] tells which runs). Polling compares a
//! fingerprint of the exact files the loader reads (names and contents,
//! following symlinks), and of the router model files the live policy
//! names (`[routers.NAME] model`, often in a subdirectory that native
//! events do not cover), every [`WatchOptions::poll_interval`]. In native
//! mode the same check runs at that interval as a safety net for missed
//! events (queue overflow, a symlinked directory swapped elsewhere). The
//! fingerprint is computed here rather than with notify's `PollWatcher`
//! because it must cover precisely the loader's file set (dot files
//! skipped, symlinks followed) and it doubles as the native safety net on
//! the same thread.

use crate::handle::PolicyHandle;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Polling period when polling is on and no interval is given.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A burst of events delays the reload at most this many debounce periods.
const MAX_DELAY_FACTOR: u32 = 10;

/// How to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Quiet time after the last relevant event before reloading.
    pub debounce: Duration,
    /// Polling period. In polling mode `None` means
    /// [`DEFAULT_POLL_INTERVAL`]; in native mode `Some` adds a fingerprint
    /// check at this period as a safety net for missed events, `None`
    /// trusts events alone.
    pub poll_interval: Option<Duration>,
    /// Poll instead of using native file-system events.
    pub use_polling: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(15),
            poll_interval: Some(Duration::from_secs(2)),
            use_polling: false,
        }
    }
}

/// What a [`Watcher`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// Native file-system events (plus the optional safety-net poll).
    Native,
    /// Fingerprint polling only.
    Polling,
}

/// Why a watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The handle was built from a policy in memory.
    #[error("the policy handle has no path to watch")]
    NoPath,
    /// The watcher thread could not be spawned.
    #[error("cannot start the policy watcher thread: {0}")]
    Spawn(std::io::Error),
}

enum Msg {
    /// A relevant event.
    Changed,
    /// Events may have been lost, or the watched directory itself changed:
    /// re-add the watch and re-check.
    Rescan,
    /// Stop the thread.
    Stop,
}

/// What to watch and which names matter.
#[derive(Debug, Clone)]
struct Target {
    /// The policy path as given.
    path: PathBuf,
    /// The directory the native watch is on.
    dir: PathBuf,
    /// `Some(file name)` for a file policy, `None` for a directory.
    file: Option<OsString>,
}

impl Target {
    fn new(path: &Path) -> Target {
        if path.is_dir() {
            return Target {
                path: path.to_path_buf(),
                dir: path.to_path_buf(),
                file: None,
            };
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Target {
            path: path.to_path_buf(),
            dir,
            file: path.file_name().map(OsString::from),
        }
    }

    /// Does an event on `p` concern the policy?
    fn relevant(&self, p: &Path) -> bool {
        let Some(name) = p.file_name() else {
            return false;
        };
        if name == "..data" {
            return true;
        }
        match &self.file {
            Some(f) => name == f.as_os_str(),
            None => tollgate_lang::is_rule_file(name),
        }
    }

    /// The files the loader would read, in its order.
    fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        if self.file.is_some() {
            return Ok(vec![self.path.clone()]);
        }
        // The loader's own listing, so both agree on the policy's files.
        tollgate_lang::rule_files(&self.path)
    }

    /// Hash the names and contents of the files the loader reads
    /// (through symlinks); read errors are part of it.
    fn hash_files(&self, h: &mut impl Hasher) {
        match self.files() {
            Err(e) => e.kind().hash(h),
            Ok(files) => files.iter().for_each(|f| hash_file(f, h)),
        }
    }
}

/// Hash a file's name and contents, or the error reading it.
fn hash_file(path: &Path, h: &mut impl Hasher) {
    path.hash(h);
    match std::fs::read(path) {
        Ok(bytes) => {
            1u8.hash(h);
            bytes.hash(h);
        }
        Err(e) => {
            0u8.hash(h);
            e.kind().hash(h);
        }
    }
}

/// The fingerprint of the policy's files and of the router model files
/// its live policy names (`[routers.NAME] model`): a retrained model file
/// is a change, noticed by the periodic check (native events watch the
/// policy's own directory only).
fn fingerprint(target: &Target, handle: &PolicyHandle) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    target.hash_files(&mut h);
    for r in handle.current().policy().routers() {
        hash_file(Path::new(&r.path), &mut h);
    }
    h.finish()
}

/// A running watcher thread; dropping it (or [`Watcher::stop`]) stops it.
#[derive(Debug)]
pub struct Watcher {
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    mode: WatchMode,
    native_error: Option<String>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Changed => "Changed",
            Msg::Rescan => "Rescan",
            Msg::Stop => "Stop",
        })
    }
}

impl Watcher {
    /// Watch the handle's path and reload on changes, on a new thread
    /// named `tollgate-watch`. The native watch is set up before this
    /// returns, so a change made after it is seen.
    pub fn spawn(handle: Arc<PolicyHandle>, opts: WatchOptions) -> Result<Watcher, WatchError> {
        let path = handle.path().ok_or(WatchError::NoPath)?;
        let target = Target::new(path);
        let (tx, rx) = mpsc::channel();
        let (native, native_error) = if opts.use_polling {
            (None, None)
        } else {
            match start_native(&target, tx.clone()) {
                Ok(w) => (Some(w), None),
                Err(e) => (None, Some(e.to_string())),
            }
        };
        let mode = if native.is_some() {
            WatchMode::Native
        } else {
            WatchMode::Polling
        };
        let poll = match mode {
            WatchMode::Native => opts.poll_interval,
            WatchMode::Polling => Some(opts.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL)),
        };
        // The baseline is taken before returning, so that a change made
        // right after `spawn` is a change.
        let baseline = fingerprint(&target, &handle);
        let worker = Worker {
            handle,
            baseline,
            target,
            rx,
            native,
            debounce: opts.debounce,
            poll,
        };
        let thread = std::thread::Builder::new()
            .name("tollgate-watch".into())
            .spawn(move || worker.run())
            .map_err(WatchError::Spawn)?;
        Ok(Watcher {
            tx,
            thread: Some(thread),
            mode,
            native_error,
        })
    }

    /// Native events or polling.
    pub fn mode(&self) -> WatchMode {
        self.mode
    }

    /// Why the native watcher could not start, when it fell back to
    /// polling by itself.
    pub fn native_error(&self) -> Option<&str> {
        self.native_error.as_deref()
    }

    /// Stop the thread and wait for it (a reload in progress finishes).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            // Dropped from a reload callback on the watcher thread itself:
            // it stops after this reload; joining itself would fail.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl PolicyHandle {
    /// [`Watcher::spawn`] on this handle.
    pub fn watch(self: &Arc<Self>, opts: WatchOptions) -> Result<Watcher, WatchError> {
        Watcher::spawn(Arc::clone(self), opts)
    }
}

fn start_native(
    target: &Target,
    tx: mpsc::Sender<Msg>,
) -> notify::Result<notify::RecommendedWatcher> {
    let filter = target.clone();
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let msg = match res {
            Err(_) => Some(Msg::Rescan),
            Ok(ev) => classify(&filter, &ev),
        };
        if let Some(m) = msg {
            let _ = tx.send(m);
        }
    })?;
    w.watch(&target.dir, RecursiveMode::NonRecursive)?;
    Ok(w)
}

fn classify(target: &Target, ev: &notify::Event) -> Option<Msg> {
    if let EventKind::Access(a) = ev.kind {
        if a != AccessKind::Close(AccessMode::Write) {
            return None;
        }
    }
    if ev.need_rescan() || ev.paths.iter().any(|p| p == &target.dir) {
        return Some(Msg::Rescan);
    }
    ev.paths
        .iter()
        .any(|p| target.relevant(p))
        .then_some(Msg::Changed)
}

struct Worker {
    handle: Arc<PolicyHandle>,
    /// Fingerprint of the files as last reloaded (or at spawn).
    baseline: u64,
    target: Target,
    rx: mpsc::Receiver<Msg>,
    native: Option<notify::RecommendedWatcher>,
    debounce: Duration,
    poll: Option<Duration>,
}

/// A burst of events waiting to settle.
#[derive(Clone, Copy)]
struct Pending {
    first: Instant,
    deadline: Instant,
}

impl Worker {
    fn bump(&self, pending: Option<Pending>, now: Instant) -> Pending {
        let first = pending.map_or(now, |p| p.first);
        let cap = first + self.debounce.saturating_mul(MAX_DELAY_FACTOR);
        Pending {
            first,
            deadline: (now + self.debounce).min(cap),
        }
    }

    fn run(mut self) {
        let mut baseline = self.baseline;
        let mut next_poll = self.poll.map(|p| Instant::now() + p);
        // One reload right away catches a change made between loading the
        // handle and starting the watcher (usually "unchanged", cheap).
        let start = Instant::now();
        let mut pending = Some(Pending {
            first: start,
            deadline: start,
        });
        let mut rewatch = false;
        loop {
            let wake = match (pending.map(|p| p.deadline), next_poll) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let msg = match wake {
                Some(w) => self
                    .rx
                    .recv_timeout(w.saturating_duration_since(Instant::now())),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let now = Instant::now();
            match msg {
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Msg::Changed) => pending = Some(self.bump(pending, now)),
                Ok(Msg::Rescan) => {
                    rewatch = true;
                    pending = Some(self.bump(pending, now));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(np) = next_poll {
                if now >= np {
                    next_poll = self.poll.map(|p| now + p);
                    if fingerprint(&self.target, &self.handle) != baseline {
                        pending = Some(self.bump(pending, now));
                    }
                }
            }
            if let Some(p) = pending {
                if now >= p.deadline {
                    pending = None;
                    if rewatch {
                        rewatch = !self.rewatch();
                    }
                    // Fingerprint before reading: a change racing the
                    // reload shows up as a difference on the next check.
                    baseline = fingerprint(&self.target, &self.handle);
                    // Refusals are counted and reported by the handle.
                    let _ = self.handle.reload();
                }
            }
        }
    }

    /// Re-add the native watch (the directory may have been replaced).
    /// `true` when done or nothing to do.
    fn rewatch(&mut self) -> bool {
        let Some(w) = self.native.as_mut() else {
            return true;
        };
        let _ = w.unwatch(&self.target.dir);
        w.watch(&self.target.dir, RecursiveMode::NonRecursive)
            .is_ok()
    }
}
