//! The member index: where each top-level member of a verified payload sits, found by
//! skimming its text, so that a claim guard or the revocation check reads one member's
//! bytes instead of parsing the whole payload again.

/// Where each top-level member of the payload sits, so that a claim guard reads one
/// member's bytes instead of parsing the whole payload again. Made by skimming the payload's
/// text ([`MemberIndex::of`]) when first needed: by a claim guard, or at once when
/// revocations read the token's ids.
#[derive(Debug, Default)]
pub(crate) struct MemberIndex {
    /// (key start, key end, value start, value end) as byte offsets into the payload.
    entries: Vec<(u32, u32, u32, u32)>,
    /// False when a key used an escape (so its bytes are not its name): look-ups then fall
    /// back to a full parse.
    complete: bool,
}

/// What the index says about one top-level claim.
pub(crate) enum Member<'p> {
    /// Not in the payload.
    Absent,
    /// Present once, with these value bytes.
    Value(&'p [u8]),
    /// Present more than once: never trusted.
    Repeated,
    /// The index cannot tell: parse the payload.
    Unknown,
}

impl MemberIndex {
    /// The index of a payload serde_json already read as an object, found by skipping over
    /// its text (no parse); `complete` false (every look-up answers `Unknown`) at an escaped
    /// key or anything unexpected.
    pub(crate) fn of(payload: &[u8]) -> Self {
        Self::skim(payload).unwrap_or_default()
    }

    fn skim(text: &[u8]) -> Option<Self> {
        let offset = |at: usize| u32::try_from(at).ok();
        let mut entries = Vec::with_capacity(12);
        let mut at = skip_space(text, 0);
        (*text.get(at)? == b'{').then_some(())?;
        at = skip_space(text, at + 1);
        if *text.get(at)? != b'}' {
            loop {
                (*text.get(at)? == b'"').then_some(())?;
                let key_start = at + 1;
                let key_end = string_end(text, key_start)?;
                if text[key_start..key_end].contains(&b'\\') {
                    return None;
                }
                at = skip_space(text, key_end + 1);
                (*text.get(at)? == b':').then_some(())?;
                let value_start = skip_space(text, at + 1);
                let value_end = value_end(text, value_start)?;
                entries.push((
                    offset(key_start)?,
                    offset(key_end)?,
                    offset(value_start)?,
                    offset(value_end)?,
                ));
                at = skip_space(text, value_end);
                match *text.get(at)? {
                    b',' => at = skip_space(text, at + 1),
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        Some(Self { entries, complete: true })
    }

    /// Looks `name` up in the payload the index was made from.
    pub(crate) fn get<'p>(&self, payload: &'p [u8], name: &str) -> Member<'p> {
        if !self.complete {
            return Member::Unknown;
        }
        let range = |start: u32, end: u32| payload.get(start as usize..end as usize);
        let mut found = None;
        let name = name.as_bytes();
        for &(key_start, key_end, value_start, value_end) in &self.entries {
            // Most keys differ in length or first byte (the registered claims' names are all
            // three bytes long): ruled out without a call to compare their bytes.
            let length = key_end.wrapping_sub(key_start) as usize;
            if length != name.len()
                || name.first().is_some_and(|first| payload.get(key_start as usize) != Some(first))
                || range(key_start, key_end) != Some(name)
            {
                continue;
            }
            if found.is_some() {
                return Member::Repeated;
            }
            found = Some((value_start, value_end));
        }
        match found {
            None => Member::Absent,
            Some((start, end)) => range(start, end).map_or(Member::Unknown, Member::Value),
        }
    }
}

/// The first index from `at` that is not JSON whitespace.
fn skip_space(text: &[u8], mut at: usize) -> usize {
    while matches!(text.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The index of the quote closing the JSON string whose contents start at `at`.
fn string_end(text: &[u8], mut at: usize) -> Option<usize> {
    loop {
        match *text.get(at)? {
            b'"' => return Some(at),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
}

/// The end (exclusive) of the JSON value starting at `start`, in a text serde_json accepted.
fn value_end(text: &[u8], start: usize) -> Option<usize> {
    match *text.get(start)? {
        b'"' => string_end(text, start + 1).map(|end| end + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            loop {
                match *text.get(at)? {
                    b'"' => at = string_end(text, at + 1)?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        // A number, `true`, `false` or `null`.
        _ => {
            let rest = &text[start..];
            let length = rest
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(rest.len());
            (length > 0).then_some(start + length)
        }
    }
}
