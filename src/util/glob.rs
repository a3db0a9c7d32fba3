//! Redis-compatible glob matching (`stringmatchlen` from Redis 7.0 `util.c`).
//!
//! Used by KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE and friends, so the
//! semantics must be byte-for-byte those of Redis, including its quirks:
//!
//! * `*` matches any sequence, `?` any single byte.
//! * `[abc]`, `[^abc]`, ranges `[a-z]` (reversed ranges such as `[z-a]` work),
//!   `\x` inside a class matches `x` literally (and case-sensitively even in
//!   nocase mode). An unterminated class (`[abc`) extends to the end of the
//!   pattern; `[` alone matches nothing and `[^` matches any byte. A `-` right
//!   before the closing `]` forms a range ending in `]` (`[a-]` is unterminated).
//! * `\x` outside a class matches `x`; a trailing `\` matches a backslash.
//! * Range bounds compare as C `char`, i.e. *signed* on x86-64 (the reference
//!   platform), so bytes >= 0x80 sort before ASCII inside ranges.
//! * Case folding (nocase) is ASCII-only, like `tolower()` in the C locale.
//! * The empty string is matched only by the empty pattern (`*` does not
//!   match `""`; Redis' KEYS special-cases a lone `*` itself).
//! * Redis gives up (no match) when a match would need more than 1000 nested
//!   `*` expansions; we reproduce that cut-off so results stay identical.
//!
//! Unlike the recursive C code this implementation is iterative and runs in
//! O(pattern * string) worst case: a single backtrack point for the last `*`
//! suffices because every non-`*` token consumes exactly one byte. That makes
//! patterns like `a*a*a*a*a*a*b` harmless and avoids deep recursion.

/// Redis aborts matching beyond this recursion depth (one level per `*`).
const MAX_STAR_NESTING: usize = 1000;

/// Returns true when `string` matches the Redis glob `pattern`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    // The C loop never runs on an empty string, so only "" matches "".
    if string.is_empty() {
        return pattern.is_empty();
    }
    if too_many_stars(pattern) {
        return false;
    }

    let (mut pi, mut si) = (0usize, 0usize);
    // (pattern index just after the last star group, string index it was tried at)
    let mut backtrack: Option<(usize, usize)> = None;
    while si < string.len() {
        if pattern.get(pi) == Some(&b'*') {
            while pattern.get(pi) == Some(&b'*') {
                pi += 1;
            }
            if pi == pattern.len() {
                return true; // trailing star swallows the rest
            }
            backtrack = Some((pi, si));
            continue;
        }
        if pi < pattern.len() {
            let (ok, next) = match_token(pattern, pi, string[si], nocase);
            if ok {
                pi = next;
                si += 1;
                continue;
            }
        }
        // Mismatch: let the last star absorb one more byte and retry.
        match backtrack {
            Some((bp, bs)) => {
                pi = bp;
                si = bs + 1;
                backtrack = Some((bp, bs + 1));
            }
            None => return false,
        }
    }
    while pattern.get(pi) == Some(&b'*') {
        pi += 1;
    }
    pi == pattern.len()
}

/// ASCII `tolower()` on a C `int` (negative values pass through, as in glibc).
fn lower(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

fn byte_eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Matches the single non-`*` token starting at `pi` against byte `c`.
/// Returns (matched, index of the next token). The token boundaries do not
/// depend on `c`, which is what makes the single-backtrack scheme valid.
fn match_token(p: &[u8], pi: usize, c: u8, nocase: bool) -> (bool, usize) {
    match p[pi] {
        b'?' => (true, pi + 1),
        b'[' => walk_class(p, pi + 1, c, nocase),
        b'\\' if p.len() - pi >= 2 => (byte_eq(p[pi + 1], c, nocase), pi + 2),
        other => (byte_eq(other, c, nocase), pi + 1),
    }
}

/// Walks a `[...]` class exactly like the C loop; `i` points just past `[`.
/// Returns (whether `c` matched, index just past the class).
fn walk_class(p: &[u8], mut i: usize, c: u8, nocase: bool) -> (bool, usize) {
    // Reading past the end yields the C string terminator.
    let at = |k: usize| p.get(k).copied().unwrap_or(0);
    let negate = at(i) == b'^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    let next = loop {
        let rem = p.len().saturating_sub(i);
        if at(i) == b'\\' && rem >= 2 {
            i += 1;
            // Escaped class members compare exactly, even in nocase mode.
            if p[i] == c {
                matched = true;
            }
        } else if at(i) == b']' {
            break i + 1;
        } else if rem == 0 {
            // Unterminated class: the rest of the pattern was the class.
            break p.len();
        } else if rem >= 3 && p[i + 1] == b'-' {
            // C compares plain `char`s, which are signed on x86-64.
            let mut start = i32::from(p[i] as i8);
            let mut end = i32::from(p[i + 2] as i8);
            let mut ch = i32::from(c as i8);
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            if nocase {
                start = lower(start);
                end = lower(end);
                ch = lower(ch);
            }
            i += 2;
            if ch >= start && ch <= end {
                matched = true;
            }
        } else if byte_eq(p[i], c, nocase) {
            matched = true;
        }
        i += 1;
    };
    (matched != negate, next)
}

/// True when a match would need more than [`MAX_STAR_NESTING`] recursive `*`
/// expansions in Redis: every star group followed by more pattern costs one
/// level, so such patterns can never match there.
fn too_many_stars(p: &[u8]) -> bool {
    // Cheap pre-check: not enough `*` bytes at all.
    if p.iter().filter(|&&b| b == b'*').count() <= MAX_STAR_NESTING {
        return false;
    }
    let mut groups = 0usize;
    let mut i = 0;
    while i < p.len() {
        if p[i] == b'*' {
            while i < p.len() && p[i] == b'*' {
                i += 1;
            }
            if i < p.len() {
                groups += 1;
            }
        } else {
            i = match_token(p, i, 0, false).1;
        }
    }
    groups > MAX_STAR_NESTING
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }
    fn mi(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), true)
    }

    /// Line-by-line port of Redis 7.0 `stringmatchlen_impl`, used as the
    /// oracle for the randomized equivalence test below.
    fn reference(p: &[u8], s: &[u8], nocase: bool) -> bool {
        fn at(b: &[u8], i: usize) -> u8 {
            b.get(i).copied().unwrap_or(0)
        }
        fn imp(p: &[u8], s: &[u8], nocase: bool, skip: &mut bool, nesting: usize) -> bool {
            if nesting > 1000 {
                return false;
            }
            let (mut pi, mut si) = (0usize, 0usize);
            let (mut plen, mut slen) = (p.len() as isize, s.len() as isize);
            while plen > 0 && slen > 0 {
                match p[pi] {
                    b'*' => {
                        while plen > 0 && at(p, pi + 1) == b'*' {
                            pi += 1;
                            plen -= 1;
                        }
                        if plen == 1 {
                            return true;
                        }
                        while slen > 0 {
                            if imp(&p[pi + 1..], &s[si..], nocase, skip, nesting + 1) {
                                return true;
                            }
                            if *skip {
                                return false;
                            }
                            si += 1;
                            slen -= 1;
                        }
                        *skip = true;
                        return false;
                    }
                    b'?' => {
                        si += 1;
                        slen -= 1;
                    }
                    b'[' => {
                        pi += 1;
                        plen -= 1;
                        let not = at(p, pi) == b'^';
                        if not {
                            pi += 1;
                            plen -= 1;
                        }
                        let mut matched = false;
                        loop {
                            if at(p, pi) == b'\\' && plen >= 2 {
                                pi += 1;
                                plen -= 1;
                                if p[pi] == s[si] {
                                    matched = true;
                                }
                            } else if at(p, pi) == b']' {
                                break;
                            } else if plen == 0 {
                                pi -= 1;
                                plen += 1;
                                break;
                            } else if plen >= 3 && p[pi + 1] == b'-' {
                                let mut start = i32::from(p[pi] as i8);
                                let mut end = i32::from(p[pi + 2] as i8);
                                let mut c = i32::from(s[si] as i8);
                                if start > end {
                                    std::mem::swap(&mut start, &mut end);
                                }
                                if nocase {
                                    start = lower(start);
                                    end = lower(end);
                                    c = lower(c);
                                }
                                pi += 2;
                                plen -= 2;
                                if c >= start && c <= end {
                                    matched = true;
                                }
                            } else if !nocase {
                                if p[pi] == s[si] {
                                    matched = true;
                                }
                            } else if lower(i32::from(p[pi] as i8)) == lower(i32::from(s[si] as i8))
                            {
                                matched = true;
                            }
                            pi += 1;
                            plen -= 1;
                        }
                        if not {
                            matched = !matched;
                        }
                        if !matched {
                            return false;
                        }
                        si += 1;
                        slen -= 1;
                    }
                    _ => {
                        if p[pi] == b'\\' && plen >= 2 {
                            pi += 1;
                            plen -= 1;
                        }
                        let eq = if nocase {
                            lower(i32::from(p[pi] as i8)) == lower(i32::from(s[si] as i8))
                        } else {
                            p[pi] == s[si]
                        };
                        if !eq {
                            return false;
                        }
                        si += 1;
                        slen -= 1;
                    }
                }
                pi += 1;
                plen -= 1;
                if slen == 0 {
                    while at(p, pi) == b'*' && plen > 0 {
                        pi += 1;
                        plen -= 1;
                    }
                    break;
                }
            }
            plen == 0 && slen == 0
        }
        let mut skip = false;
        imp(p, s, nocase, &mut skip, 0)
    }

    #[test]
    fn basics() {
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("max*", "maxmemory"));
        assert!(!m("max*", "xmaxmemory"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(m("*a*", "a"));
        assert!(!m("a?", "a"));
        assert!(!m("abc", "ab"));
        assert!(!m("ab", "abc"));
    }

    #[test]
    fn empty_string_and_pattern() {
        assert!(m("", ""));
        assert!(
            !m("*", ""),
            "Redis' matcher never lets * match an empty string"
        );
        assert!(!m("**", ""));
        assert!(!m("", "a"));
        assert!(!m("?", ""));
    }

    #[test]
    fn ranges_reversed_and_nocase() {
        assert!(m("[z-a]", "m"));
        assert!(m("[a-z]", "m"));
        assert!(!m("[a-z]", "M"));
        assert!(mi("[a-z]", "M"));
        assert!(mi("[A-Z]", "m"));
        assert!(mi("HELLO", "hello"));
        assert!(mi("h[E]llo", "hello"));
        // Escaped class members are compared exactly even in nocase mode.
        assert!(!mi("h[\\E]llo", "hello"));
        assert!(mi("h\\Ello", "hello"));
        // Range end is `]`: '[a-]' is a range from ']' (93) to 'a' (97).
        assert!(m("[a-]", "^"));
        assert!(m("[a-]", "]"));
        assert!(!m("[a-]", "b"));
        // Signed-char ranges: 0xff is -1, so [\x01-\xff] spans -1..=1.
        assert!(glob_match(b"[\x01-\xff]", b"\x00", false));
        assert!(!glob_match(b"[\x01-\xff]", b"a", false));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?b", "a?b"));
        assert!(!m("a\\?b", "axb"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        // Trailing backslash matches a literal backslash.
        assert!(m("a\\", "a\\"));
        assert!(!m("a\\", "a"));
        assert!(m("[a\\", "\\"));
    }

    #[test]
    fn brackets_edge_cases() {
        // Unterminated class: the rest of the pattern is the class.
        assert!(m("[abc", "b"));
        assert!(!m("[abc", "d"));
        assert!(!m("[abc", "bc"));
        // A lone '[' matches nothing; '[^' matches any single byte.
        assert!(!m("[", "["));
        assert!(!m("[", "a"));
        assert!(m("[^", "x"));
        assert!(!m("[^", "xy"));
        // '[]' is not an empty class: ']' right after '[' closes it, so it
        // is a class that matches nothing.
        assert!(!m("[]", "]"));
        assert!(!m("[]", "a"));
        assert!(!m("a[]]", "a]"));
        assert!(!m("[]a]", "a"));
        assert!(m("[^]a", "xa"));
        assert!(m("x[ab]*", "xb"));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let s = vec![b'a'; 100_000];
        let start = std::time::Instant::now();
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &s, false));
        assert!(!glob_match(
            b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
            &s,
            true
        ));
        let long_star: Vec<u8> = b"*".repeat(50_000);
        assert!(glob_match(&long_star, &s, false));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn nesting_limit_matches_redis() {
        // Verified against redis-server 7.0.15 with KEYS: 1000 star groups
        // still match, 1001 do not.
        for (n, expect) in [(999, true), (1000, true), (1001, false), (1002, false)] {
            let p = "*a".repeat(n);
            let s = "a".repeat(n);
            assert_eq!(m(&p, &s), expect, "n={n}");
            assert_eq!(
                reference(p.as_bytes(), s.as_bytes(), false),
                expect,
                "ref n={n}"
            );
        }
        // A trailing star group costs no nesting level.
        let p = format!("{}*", "a*".repeat(1000));
        assert!(m(&p, &"a".repeat(1000)));
        // Escaped or bracketed stars are not star groups.
        let p = "\\*".repeat(1500);
        assert!(m(&p, &"*".repeat(1500)));
    }

    #[test]
    fn random_equivalence_with_reference_port() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pat_alpha = b"ab*?[]^-\\A\xff";
        let str_alpha = b"abAB]-^\\*?[\xff";
        for _ in 0..200_000 {
            let plen = (rnd() % 9) as usize;
            let slen = (rnd() % 8) as usize;
            let p: Vec<u8> = (0..plen)
                .map(|_| pat_alpha[(rnd() % pat_alpha.len() as u64) as usize])
                .collect();
            let s: Vec<u8> = (0..slen)
                .map(|_| str_alpha[(rnd() % str_alpha.len() as u64) as usize])
                .collect();
            for nocase in [false, true] {
                assert_eq!(
                    glob_match(&p, &s, nocase),
                    reference(&p, &s, nocase),
                    "pattern {:?} string {:?} nocase {nocase}",
                    String::from_utf8_lossy(&p),
                    String::from_utf8_lossy(&s)
                );
            }
        }
    }
}
