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

/// What a script's shebang says: its flags, and how many bytes of the body the shebang takes
/// (up to, not including, its line feed, which stays so line numbers don't move).
pub fn shebang(body: &[u8]) -> Result<(Flags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((Flags::default(), 0));
    }
    let end = memchr::memchr(b'\n', body).unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[2..end]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    match parts.next() {
        None => return Err("ERR Invalid script shebang".into()),
        Some("lua") => {}
        Some(e) => return Err(format!("ERR Unexpected engine in script shebang: {e}")),
    }
    let mut flags = Flags {
        shebang: true,
        ..Flags::default()
    };
    for p in parts {
        match p.strip_prefix("flags=") {
            Some(list) => {
                for f in list.split(',').filter(|f| !f.is_empty()) {
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

/// A library's name from its `#!lua name=lib` shebang (FUNCTION LOAD).
pub fn library_name(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = memchr::memchr(b'\n', code).unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    match parts.next() {
        Some(e) if e.eq_ignore_ascii_case("lua") => {}
        Some(e) => return Err(format!("ERR Engine '{e}' not found")),
        None => return Err("ERR Missing library metadata".into()),
    }
    let mut name = None;
    for p in parts {
        match p.split_once('=') {
            Some(("name", v)) => name = Some(v.to_string()),
            _ => return Err(format!("ERR Invalid metadata value given: {p}")),
        }
    }
    let name = name.ok_or_else(|| "ERR Library name was not given".to_string())?;
    let ok = !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if !ok {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok(name)
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
        assert!(shebang(b"#!js\n").is_err());
        assert_eq!(library_name(b"#!lua name=mylib\n"), Ok("mylib".to_string()));
        assert!(library_name(b"return 1").is_err());
    }
}
