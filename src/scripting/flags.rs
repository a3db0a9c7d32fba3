//! Script flags from a shebang line (`#!lua flags=no-writes,allow-cross-slot-keys`), as
//! Redis 7's evalExtractShebangFlags and function flags.

pub const KNOWN: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// A shebang was given: the script is not in compatibility mode.
    pub shebang: bool,
    pub no_writes: bool,
    pub cross_slot: bool,
    /// Its commands run even past `maxmemory` (Redis's SCRIPT_ALLOW_OOM).
    pub allow_oom: bool,
}

impl Flags {
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Flags {
        let mut f = Flags {
            shebang: true,
            ..Flags::default()
        };
        for n in names {
            match n {
                "no-writes" => f.no_writes = true,
                "allow-cross-slot-keys" => f.cross_slot = true,
                "allow-oom" => f.allow_oom = true,
                _ => {}
            }
        }
        f
    }
}

/// The words of a shebang line (`#!lua flags=…`), split as sdssplitargs splits them (quotes
/// included); None when there is no line feed after it or its quotes do not balance.
fn shebang_words(body: &[u8]) -> Option<(Vec<String>, usize)> {
    let end = memchr::memchr(b'\n', body)?;
    let words = crate::config::split_args(&body[..end])?;
    let words: Vec<String> = words
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    (!words.is_empty()).then_some((words, end))
}

/// What a script's shebang says: its flags, and how many bytes of the body the shebang takes
/// (up to, not including, its line feed, which stays so line numbers don't move). Redis 7.0's
/// evalExtractShebangFlags.
pub fn shebang(body: &[u8]) -> Result<(Flags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((Flags::default(), 0));
    }
    let (words, end) = shebang_words(body).ok_or("ERR Invalid script shebang")?;
    if words[0] != "#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            words[0]
        ));
    }
    let mut flags = Flags {
        shebang: true,
        ..Flags::default()
    };
    for p in &words[1..] {
        match p.strip_prefix("flags=") {
            Some("") => {}
            Some(list) => {
                for f in list.split(',') {
                    if !KNOWN.contains(&f) {
                        return Err(format!("ERR Unexpected flag in script shebang: {f}"));
                    }
                    let one = Flags::from_names([f]);
                    flags.no_writes |= one.no_writes;
                    flags.cross_slot |= one.cross_slot;
                    flags.allow_oom |= one.allow_oom;
                }
            }
            None => return Err(format!("ERR Unknown lua shebang option: {p}")),
        }
    }
    Ok((flags, end))
}

/// A library's name from its `#!lua name=lib` shebang (FUNCTION LOAD), as Redis 7.0's
/// functionExtractLibMetaData reads it.
pub fn library_name(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let (words, _) = shebang_words(code).ok_or("ERR Invalid library metadata")?;
    let engine = &words[0][2..];
    let mut name: Option<&str> = None;
    for p in &words[1..] {
        let head = p.get(..5).unwrap_or("");
        if head.eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(&p[5..]);
            continue;
        }
        return Err(format!("ERR Invalid metadata value given: {p}"));
    }
    let name = name.ok_or("ERR Library name was not given")?;
    let ok = !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if !ok {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(shebang(b"return 1").map(|p| p.1), Ok(0));
        let (f, n) =
            shebang(b"#!lua flags=no-writes,allow-cross-slot-keys\nreturn 1").unwrap_or_default();
        assert!(f.no_writes && f.cross_slot && f.shebang);
        assert_eq!(n, 43);
        assert!(shebang(b"#!lua flags=bad\n").is_err());
        assert_eq!(
            shebang(b"#!js\n"),
            Err("ERR Unexpected engine in script shebang: #!js".into())
        );
        assert_eq!(shebang(b"#!lua"), Err("ERR Invalid script shebang".into()));
        assert_eq!(library_name(b"#!lua name=mylib\n"), Ok("mylib".to_string()));
        assert_eq!(library_name(b"#!lua name=\"q\"\n"), Ok("q".to_string()));
        assert_eq!(
            library_name(b"#! name=test\n"),
            Err("ERR Engine '' not found".into())
        );
        assert_eq!(
            library_name(b"#!lua name=a name=b\n"),
            Err("ERR Invalid metadata value, name argument was given multiple times".into())
        );
        assert!(library_name(b"return 1").is_err());
    }
}
