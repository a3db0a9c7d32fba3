//! One ACL user: flags, password hashes and its selectors (Redis's rule syntax, semantics and
//! error texts), its description for ACL LIST / GETUSER, and the per-command check.

pub use super::selector::Denied;
use super::selector::{Selector, SYNTAX};
use bytes::Bytes;
use sha2::{Digest, Sha256};

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// Redis keeps "sanitize-payload" / "skip-sanitize-payload" as given.
    pub sanitize: Option<bool>,
    /// SHA-256 digests of the passwords, in the order added.
    pub passwords: Vec<[u8; 32]>,
    /// The permissions given outside parentheses.
    pub root: Selector,
    /// `(…)` selectors: a command one of them allows is allowed.
    pub selectors: Vec<Selector>,
    /// Declared by a `user` line (config or ACL file), for the duplicate check.
    pub declared: bool,
}

pub fn hash_password(p: &[u8]) -> [u8; 32] {
    Sha256::digest(p).into()
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `#<hash>` rule's hash: exactly 64 lower-case hex digits.
fn parse_hash(h: &[u8]) -> Result<[u8; 32], String> {
    let bad = || {
        "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters".to_string()
    };
    if h.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in h.chunks(2).enumerate() {
        let d = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        match (d(pair[0]), d(pair[1])) {
            (Some(a), Some(b)) => out[i] = a << 4 | b,
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Redis's ACLMergeSelectorArguments: `(` … `)` spread over several arguments become one.
/// Err: the argument where an unclosed selector starts.
pub fn merge_selector_args(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, Vec<u8>> {
    let mut out = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    for a in args {
        if let Some(sel) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(a);
            if a.last() == Some(&b')') {
                out.extend(open.take());
            }
            continue;
        }
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some(a.clone());
            continue;
        }
        out.push(a.clone());
    }
    match open {
        Some(sel) => Err(sel),
        None => Ok(out),
    }
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no passwords, no permissions.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::new(),
            selectors: Vec::new(),
            declared: false,
        }
    }

    /// Redis's default user: everything, no password.
    pub fn default_user() -> User {
        let mut u = User::new("default");
        for r in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(r.as_bytes());
        }
        u
    }

    /// Apply rules in order; on error nothing is changed and the error names the rule.
    pub fn apply_all(&mut self, rules: &[&[u8]]) -> Result<(), String> {
        let mut next = self.clone();
        for r in rules {
            next.apply(r).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {e}",
                    String::from_utf8_lossy(r)
                )
            })?;
        }
        *self = next;
        Ok(())
    }

    /// One rule (Redis's ACLSetUser).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), String> {
        if op.is_empty() {
            return Ok(());
        }
        let lower = String::from_utf8_lossy(op).to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "skip-sanitize-payload" => self.sanitize = Some(false),
            "sanitize-payload" => self.sanitize = Some(true),
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "clearselectors" => self.selectors.clear(),
            "reset" => {
                for r in [
                    "resetpass",
                    "resetkeys",
                    "resetchannels",
                    "off",
                    "clearselectors",
                ] {
                    self.apply(r.as_bytes())?;
                }
                self.apply(b"-@all")?;
                self.sanitize = Some(true);
            }
            _ => return self.apply_prefixed(op),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, op: &[u8]) -> Result<(), String> {
        let rest = &op[1..];
        match op[0] {
            b'>' | b'#' => {
                let h = if op[0] == b'>' {
                    hash_password(rest)
                } else {
                    parse_hash(rest)?
                };
                if !self.passwords.contains(&h) {
                    self.passwords.push(h);
                }
                self.nopass = false;
            }
            b'<' | b'!' => {
                let h = if op[0] == b'<' {
                    hash_password(rest)
                } else {
                    parse_hash(rest)?
                };
                let before = self.passwords.len();
                self.passwords.retain(|p| p != &h);
                if self.passwords.len() == before {
                    return Err(
                        "The password you are trying to remove from the user does not exist".into(),
                    );
                }
            }
            b'(' if op.last() == Some(&b')') => {
                let inner = &op[1..op.len() - 1];
                let words = crate::config::split_args(inner).ok_or_else(|| SYNTAX.to_string())?;
                let mut sel = Selector::new();
                for w in words {
                    sel.apply(&w)?;
                }
                self.selectors.push(sel);
            }
            _ => return self.root.apply(op),
        }
        Ok(())
    }

    /// Nothing to check per command: the root selector allows everything.
    pub fn unrestricted(&self) -> bool {
        self.root.unrestricted()
    }

    /// AUTH's check, comparing digests in constant time.
    pub fn password_ok(&self, given: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(given);
        let mut ok = subtle::Choice::from(0);
        for p in &self.passwords {
            ok |= p.ct_eq(&h);
        }
        ok.into()
    }

    /// The permission check for one invocation: allowed when one selector allows it; else the
    /// most relevant refusal, as Redis reports it.
    pub fn check(&self, spec: &crate::commands::CommandSpec, args: &[Bytes]) -> Result<(), Denied> {
        self.check_by_name(spec.name, Some(spec), args)
    }

    /// The same by name, also for Redis commands shardis lacks (ACL DRYRUN).
    pub fn check_by_name(
        &self,
        name: &str,
        spec: Option<&crate::commands::CommandSpec>,
        args: &[Bytes],
    ) -> Result<(), Denied> {
        let mut worst = match self.root.check(name, spec, args) {
            Ok(()) => return Ok(()),
            Err(d) => d,
        };
        for s in &self.selectors {
            match s.check(name, spec, args) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    if d.rank() > worst.rank() {
                        worst = d;
                    }
                }
            }
        }
        Err(worst)
    }

    /// Redis's ACLUserCheckCmdWithUnrestrictedKeyAccess: whether a selector that allows this
    /// command may read every key (SORT's BY and GET patterns need it).
    pub fn reads_every_key(&self, spec: &crate::commands::CommandSpec, args: &[Bytes]) -> bool {
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .any(|s| s.reads_every_key() && s.check(spec.name, Some(spec), args).is_ok())
    }

    /// Whether this user may use a channel (for pub/sub).
    pub fn channel_ok(&self, channel: &[u8], literal: bool) -> bool {
        self.root.channel_ok(channel, literal)
            || self
                .selectors
                .iter()
                .any(|s| s.channel_ok(channel, literal))
    }

    /// ACL LIST's line without "user <name> ".
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for f in self.flags() {
            s.push_str(f);
            s.push(' ');
        }
        for p in &self.passwords {
            s.push('#');
            s.push_str(&hex(p));
            s.push(' ');
        }
        s.push_str(&self.root.describe());
        for sel in &self.selectors {
            s.push_str(" (");
            s.push_str(&sel.describe());
            s.push(')');
        }
        s
    }

    pub fn flags(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        match self.sanitize {
            Some(true) => v.push("sanitize-payload"),
            Some(false) => v.push("skip-sanitize-payload"),
            None => {}
        }
        v
    }

    pub fn password_hexes(&self) -> Vec<String> {
        self.passwords.iter().map(hex).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new("u");
        let r: Vec<&[u8]> = rules.iter().map(|r| r.as_bytes()).collect();
        u.apply_all(&r).unwrap();
        u
    }

    #[test]
    fn describes_as_redis() {
        assert_eq!(User::default_user().describe(), "on nopass ~* &* +@all");
        assert_eq!(User::new("x").describe(), "off resetchannels -@all");
        let u = user(&["on", "~k*", "%R~r*", "&ch*", "+get", "+@hash", "-hset"]);
        assert_eq!(
            u.describe(),
            "on ~k* %R~r* resetchannels &ch* -@all +@hash +get -hset"
        );
        let u = user(&["+@all", "-get"]);
        assert_eq!(u.root.describe_commands(), "+@all -get");
        let u = user(&["+select|0"]);
        assert_eq!(u.root.describe_commands(), "-@all +select|0");
        let u = user(&["on", "nopass", "(~a* +get)", "(%R~b* &c +@read)"]);
        assert_eq!(
            u.describe(),
            "on nopass resetchannels -@all (~a* resetchannels -@all +get) (%R~b* resetchannels &c -@all +@read)"
        );
    }

    #[test]
    fn rule_errors() {
        let mut u = User::new("u");
        let unknown = "Unknown command or category name in ACL";
        assert_eq!(u.apply(b"bogus").unwrap_err(), SYNTAX);
        assert_eq!(u.apply(b"+nosuch").unwrap_err(), unknown);
        assert_eq!(u.apply(b"+@nosuch").unwrap_err(), unknown);
        assert_eq!(u.apply(b"(bogus)").unwrap_err(), SYNTAX);
        assert!(u
            .apply(b"#abc")
            .unwrap_err()
            .starts_with("The password hash"));
        assert!(u.apply(b"<nope").unwrap_err().contains("does not exist"));
        assert!(u.apply(b"+config|get|x").is_err());
        let merged = merge_selector_args(&[b"(+get".to_vec(), b"~a)".to_vec(), b"on".to_vec()]);
        assert_eq!(merged.unwrap(), vec![b"(+get ~a)".to_vec(), b"on".to_vec()]);
        assert_eq!(
            merge_selector_args(&[b"(+get".to_vec()]).unwrap_err(),
            b"(+get"
        );
        u.apply(b"allkeys").unwrap();
        assert!(u.apply(b"~x").unwrap_err().contains("'allkeys'"));
    }

    #[test]
    fn passwords() {
        let u = user(&["on", ">secret"]);
        assert!(u.password_ok(b"secret") && !u.password_ok(b"other"));
        assert_eq!(
            u.password_hexes()[0],
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
        let off = user(&[">secret"]);
        assert!(!off.password_ok(b"secret"));
    }
}
