//! Number parsing and formatting with Redis's exact rules (util.c: string2ll, string2ld, %.17g).

/// Strict integer parse, as Redis's `string2ll`: optional '-', no '+', no spaces, no leading zeros.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Float parse as Redis's `string2ld`/`string2d`: the whole string must be a number, no leading
/// space, NaN refused; "inf", "+inf", "-inf" accepted.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 5000 || s[0].is_ascii_whitespace() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let lower = text.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust accepts forms strtod refuses ("1_0" is refused by both, but Rust also takes "nan" and "inf" spellings handled above).
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            match text.parse::<f64>() {
                Ok(v) => v,
                // strtod also reads C99 hexadecimal floats ("0x10", "0x1.8p3").
                Err(_) => parse_hex_f64(text)?,
            }
        }
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// strtod's hexadecimal form: `[+-]0x<hex digits>[.<hex digits>][p[+-]<decimal exponent>]`.
fn parse_hex_f64(text: &str) -> Option<f64> {
    let (neg, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let rest = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))?;
    let (mantissa, exp) = match rest.find(['p', 'P']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    // Out of range is an error for strtod's callers in Redis (ERANGE).
    v.is_finite().then_some(if neg { -v } else { v })
}

/// Format like C's `%.17g` (what Redis 7.0 uses for double replies).
pub fn fmt_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if let Some(i) = integral(d) {
        return itoa::Buffer::new().format(i).to_owned();
    }
    fmt_g(d, 17)
}

/// `d` as an integer when `%.17g` prints it as one: a non-zero whole number of at most 17
/// digits (so exact, and in fixed notation). Scores usually are, and formatting them this way
/// skips the costly exact-digits float formatting.
#[inline]
pub fn integral(d: f64) -> Option<i64> {
    (d != 0.0 && d.fract() == 0.0 && d.abs() < 1e17).then_some(d as i64)
}

/// `%.{prec}g` for finite non-zero values.
fn fmt_g(d: f64, prec: usize) -> String {
    let e = format!("{:.*e}", prec - 1, d);
    let (mant, exp) = match e.split_once('e') {
        Some(p) => p,
        None => return e,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", mant, sign, exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Human form used by INCRBYFLOAT and HINCRBYFLOAT. Redis prints a long double with "%.17Lf" and
/// trims zeros; with f64 the last two of those digits are noise, so this keeps 15 significant
/// digits (0.1 + 0.2 prints "0.3", as Redis does), never an exponent.
#[cfg(test)]
pub fn fmt_human(d: f64) -> String {
    fmt_human_sum(d, 0.0, 0.0)
}

/// [`fmt_human`] for `d = a + b`: the f64 sum is only exact to about 15 significant digits of
/// its largest operand, so a result much smaller than the operands (a near cancellation, such
/// as 1/41 - 1/41 written out in decimal) keeps only the digits those operands justify. Where
/// Redis's long double sum cancels to almost nothing it prints 0; so does this.
pub fn fmt_human_sum(d: f64, a: f64, b: f64) -> String {
    if d == 0.0 {
        return "0".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let scale = d.abs().max(a.abs()).max(b.abs());
    let mag = scale.log10().floor() as i32;
    let decimals = (14 - mag).clamp(0, 17) as usize;
    let s = format!("{:.*}", decimals, d);
    let s = trim_zeros(&s);
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1a",
            b"-",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"abc"), None);
    }

    #[test]
    fn g17() {
        assert_eq!(fmt_double(1.5), "1.5");
        assert_eq!(fmt_double(0.1), "0.10000000000000001");
        assert_eq!(fmt_double(100.0), "100");
        assert_eq!(fmt_double(1e20), "1e+20");
        assert_eq!(fmt_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(fmt_double(f64::INFINITY), "inf");
        assert_eq!(fmt_double(-0.0), "-0");
        assert_eq!(fmt_double(-7.0), "-7");
        assert_eq!(fmt_double(1e16), "10000000000000000");
        assert_eq!(fmt_double(99999999999999984.0), "99999999999999984");
        assert_eq!(fmt_double(1e17), "1e+17");
        // The integer shortcut prints what the general path does.
        let mut x = 1.0f64;
        while x < 1e18 {
            for d in [x, -x, x + 1.0, x * 3.0 - 1.0, (x * 1.7).round()] {
                assert_eq!(fmt_double(d), fmt_g(d, 17), "{d}");
            }
            x *= 7.0;
        }
    }

    #[test]
    fn human() {
        assert_eq!(fmt_human(0.1 + 0.2), "0.3");
        assert_eq!(fmt_human(10.5), "10.5");
        assert_eq!(fmt_human(5000.0), "5000");
        assert_eq!(fmt_human(17179869185.5), "17179869185.5");
        assert_eq!(fmt_human(1.0 / 41.0 - 1.0 / 41.0), "0");
        assert_eq!(fmt_human(-2.5), "-2.5");
        // Redis's "No negative zero" test: 1/41 as Tcl prints it, added then subtracted.
        let a = parse_f64(b"0.024390243902439025").unwrap_or_default();
        let stored = parse_f64(fmt_human_sum(a, 0.0, a).as_bytes()).unwrap_or_default();
        assert_eq!(fmt_human_sum(stored - a, stored, -a), "0");
        assert_eq!(fmt_human_sum(0.5 - 0.25, 0.5, -0.25), "0.25");
    }
}
