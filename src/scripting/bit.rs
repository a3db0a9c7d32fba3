//! The `bit` library scripts have in Redis (LuaBitOp): 32-bit operations on Lua numbers.

use mlua::{Lua, Table};

fn tobit(n: f64) -> i32 {
    // LuaBitOp normalizes through a 2^52+2^51 addition: modular 32-bit wrap of the integer part.
    (n as i64) as i32
}

pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", lua.create_function(|_, n: f64| Ok(tobit(n)))?)?;
    t.raw_set("bnot", lua.create_function(|_, n: f64| Ok(!tobit(n)))?)?;
    t.raw_set(
        "band",
        lua.create_function(|_, a: mlua::Variadic<f64>| {
            Ok(a.iter().fold(-1i32, |acc, &x| acc & tobit(x)))
        })?,
    )?;
    t.raw_set(
        "bor",
        lua.create_function(|_, a: mlua::Variadic<f64>| {
            Ok(a.iter().fold(0i32, |acc, &x| acc | tobit(x)))
        })?,
    )?;
    t.raw_set(
        "bxor",
        lua.create_function(|_, a: mlua::Variadic<f64>| {
            Ok(a.iter().fold(0i32, |acc, &x| acc ^ tobit(x)))
        })?,
    )?;
    t.raw_set(
        "lshift",
        lua.create_function(|_, (a, n): (f64, f64)| {
            Ok(((tobit(a) as u32) << (tobit(n) as u32 & 31)) as i32)
        })?,
    )?;
    t.raw_set(
        "rshift",
        lua.create_function(|_, (a, n): (f64, f64)| {
            Ok(((tobit(a) as u32) >> (tobit(n) as u32 & 31)) as i32)
        })?,
    )?;
    t.raw_set(
        "arshift",
        lua.create_function(|_, (a, n): (f64, f64)| Ok(tobit(a) >> (tobit(n) as u32 & 31)))?,
    )?;
    t.raw_set(
        "rol",
        lua.create_function(|_, (a, n): (f64, f64)| {
            Ok((tobit(a) as u32).rotate_left(tobit(n) as u32 & 31) as i32)
        })?,
    )?;
    t.raw_set(
        "ror",
        lua.create_function(|_, (a, n): (f64, f64)| {
            Ok((tobit(a) as u32).rotate_right(tobit(n) as u32 & 31) as i32)
        })?,
    )?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, a: f64| Ok((tobit(a) as u32).swap_bytes() as i32))?,
    )?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (a, n): (f64, Option<f64>)| {
            let v = tobit(a) as u32;
            let n = n.map(tobit).unwrap_or(8);
            let (upper, n) = if n < 0 { (true, -n) } else { (false, n) };
            let n = n.clamp(1, 8) as usize;
            let s = format!("{v:08x}");
            let s = s[8 - n..].to_string();
            Ok(if upper { s.to_uppercase() } else { s })
        })?,
    )?;
    Ok(t)
}
