//! The entry's binary form (what Redis holds): exact layout, round trip,
//! and refusal of anything malformed.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_cache::{DecodeError, Entry, StopReason, Usage};

fn sample(stop: StopReason) -> Entry {
    Entry {
        body: b"{\"text\":\"hi\"}".to_vec(),
        stop_reason: stop,
        usage: Usage {
            input: 1200,
            output: 85,
            cache_read: 4096,
            cache_write: 0,
        },
        cost_nanos: 4_104_900,
        model_id: "us.anthropic.claude-sonnet-4-20250514-v1:0".into(),
        created_unix_ms: 1_764_140_000_000,
    }
}

#[test]
fn entry_binary_layout_is_the_documented_one() {
    let e = Entry {
        body: b"ok".to_vec(),
        stop_reason: StopReason::EndTurn,
        usage: Usage {
            input: 1,
            output: 2,
            cache_read: 3,
            cache_write: 4,
        },
        cost_nanos: 5,
        model_id: "m".into(),
        created_unix_ms: 6,
    };
    let mut want = b"TGE\x01".to_vec();
    want.push(1);
    for n in [1u64, 2, 3, 4, 5, 6, 1] {
        want.extend(n.to_le_bytes());
    }
    want.push(b'm');
    want.extend(2u64.to_le_bytes());
    want.extend(b"ok");
    assert_eq!(e.to_bytes(), want);
}

#[test]
fn entry_round_trips_every_stop_reason() {
    for stop in [
        StopReason::EndTurn,
        StopReason::ToolUse,
        StopReason::MaxTokens,
        StopReason::StopSequence,
        StopReason::GuardrailIntervened,
        StopReason::ContentFiltered,
        StopReason::Other("model_context_window_exceeded".into()),
    ] {
        let e = sample(stop.clone());
        assert_eq!(Entry::from_bytes(&e.to_bytes()), Ok(e));
        assert_eq!(StopReason::parse(stop.as_str()), stop);
    }
}

#[test]
fn entry_decode_refuses_malformed_values() {
    let good = sample(StopReason::EndTurn).to_bytes();
    assert_eq!(Entry::from_bytes(b""), Err(DecodeError::Truncated));
    assert_eq!(Entry::from_bytes(b"TGE\x02rest"), Err(DecodeError::Magic));
    for cut in [5, 20, good.len() - 1] {
        assert_eq!(
            Entry::from_bytes(&good[..cut]),
            Err(DecodeError::Truncated),
            "cut at {cut}"
        );
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(Entry::from_bytes(&trailing), Err(DecodeError::Trailing));
    let mut bad_stop = good.clone();
    bad_stop[4] = 9;
    assert_eq!(Entry::from_bytes(&bad_stop), Err(DecodeError::StopCode(9)));
    // A length prefix pointing past the end is truncation, not a panic.
    let mut huge = good.clone();
    huge[53..61].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(Entry::from_bytes(&huge), Err(DecodeError::Truncated));
    // A model id that is not UTF-8.
    let e = Entry {
        model_id: "é".into(),
        ..sample(StopReason::EndTurn)
    };
    let mut bytes = e.to_bytes();
    let at = bytes.iter().position(|&b| b == 0xc3).unwrap();
    bytes[at] = 0xff;
    assert_eq!(Entry::from_bytes(&bytes), Err(DecodeError::Utf8));
}
