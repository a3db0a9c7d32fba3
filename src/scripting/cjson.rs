//! The `cjson` library scripts have in Redis (lua-cjson): `cjson.encode`, `cjson.decode`,
//! `cjson.null`. Tables whose keys are exactly 1..n encode as arrays, others as objects (an
//! empty table is `{}`); numbers print as Lua prints them (`%.14g`); JSON null decodes to
//! `cjson.null`.

use mlua::{LightUserData, Lua, Table, Value};

thread_local! {
    /// lua-cjson's settings (per VM thread, as they are per VM in Redis).
    static ENCODE_MAX_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(1000) };
    static DECODE_MAX_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(1000) };
    static INVALID_NUMBERS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A setter/getter of one integer setting, as lua-cjson's `encode_max_depth([n])`.
fn depth_setting(
    lua: &Lua,
    key: &'static std::thread::LocalKey<std::cell::Cell<usize>>,
) -> mlua::Result<mlua::Function> {
    lua.create_function(move |_, n: Option<i64>| {
        if let Some(n) = n {
            if n < 1 {
                return Err(mlua::Error::RuntimeError(
                    "bad argument #1 (expected integer between 1 and 2147483647)".into(),
                ));
            }
            key.with(|c| c.set(n as usize));
        }
        Ok(key.with(|c| c.get()))
    })
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("null", null())?;
    t.raw_set("encode_max_depth", depth_setting(lua, &ENCODE_MAX_DEPTH)?)?;
    t.raw_set("decode_max_depth", depth_setting(lua, &DECODE_MAX_DEPTH)?)?;
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(|_, on: Option<Value>| {
            if let Some(v) = on {
                INVALID_NUMBERS.with(|c| c.set(!matches!(v, Value::Boolean(false) | Value::Nil)));
            }
            Ok(INVALID_NUMBERS.with(|c| c.get()))
        })?,
    )?;
    // Buffer reuse is an allocation detail of lua-cjson: accepted, nothing to do.
    t.raw_set(
        "encode_keep_buffer",
        lua.create_function(|_, _: Option<Value>| Ok(true))?,
    )?;
    t.raw_set(
        "encode",
        lua.create_function(|_, v: Value| {
            let mut out = String::new();
            encode(&v, 0, &mut out)?;
            Ok(out)
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let j: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                mlua::Error::RuntimeError(format!("Expected value but found invalid token: {e}"))
            })?;
            to_lua(lua, &j, 0)
        })?,
    )?;
    Ok(t)
}

fn encode(v: &Value, depth: usize, out: &mut String) -> mlua::Result<()> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::LightUserData(p) if p.0.is_null() => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(_) | Value::Number(_) => {
            if let Value::Number(n) = v {
                if (n.is_nan() || n.is_infinite()) && !INVALID_NUMBERS.with(|c| c.get()) {
                    return Err(mlua::Error::RuntimeError(
                        "Cannot serialise number: must not be NaN or Inf".into(),
                    ));
                }
            }
            let n = match v {
                Value::Integer(i) => *i as f64,
                Value::Number(n) => *n,
                _ => 0.0,
            };
            out.push_str(&super::vm::lua_number(n));
        }
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= ENCODE_MAX_DEPTH.with(|c| c.get()) {
                return Err(mlua::Error::RuntimeError(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                )));
            }
            let mut max = 0i64;
            let mut count = 0i64;
            let mut array = true;
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, _) = pair?;
                count += 1;
                match k {
                    Value::Integer(i) if i >= 1 => max = max.max(i),
                    Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as i64),
                    _ => array = false,
                }
            }
            if array && count > 0 && max == count {
                out.push('[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(',');
                    }
                    encode(&t.raw_get::<Value>(i)?, depth + 1, out)?;
                }
                out.push(']');
            } else {
                out.push('{');
                let mut first = true;
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, val) = pair?;
                    let key = match &k {
                        Value::String(s) => s.as_bytes().to_vec(),
                        Value::Integer(i) => super::vm::lua_number(*i as f64).into_bytes(),
                        Value::Number(n) => super::vm::lua_number(*n).into_bytes(),
                        _ => {
                            return Err(mlua::Error::RuntimeError(
                                "Cannot serialise table: table key must be a number or string"
                                    .into(),
                            ))
                        }
                    };
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    string(&key, out);
                    out.push(':');
                    encode(&val, depth + 1, out)?;
                }
                out.push('}');
            }
        }
        other => {
            return Err(mlua::Error::RuntimeError(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    }
    Ok(())
}

fn string(b: &[u8], out: &mut String) {
    out.push('"');
    for ch in String::from_utf8_lossy(b).chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn to_lua(lua: &Lua, j: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    let nested = matches!(
        j,
        serde_json::Value::Array(_) | serde_json::Value::Object(_)
    );
    if nested && depth >= DECODE_MAX_DEPTH.with(|c| c.get()) {
        return Err(mlua::Error::RuntimeError(format!(
            "Found too many nested data structures ({})",
            depth + 1
        )));
    }
    Ok(match j {
        serde_json::Value::Null => null(),
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, it) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, it, depth + 1)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(m) => {
            let t = lua.create_table_with_capacity(0, m.len())?;
            for (k, v) in m {
                t.raw_set(k.as_str(), to_lua(lua, v, depth + 1)?)?;
            }
            Value::Table(t)
        }
    })
}
