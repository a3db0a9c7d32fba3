//! One Lua 5.1 interpreter set up as Redis sets up its own (script_lua.c, eval.c): the
//! `redis` library, the sandbox (no io/os/loadfile/dofile, protected globals), Redis's error
//! handler, and Redis's conversions between Lua values and replies in both directions.
//!
//! What `redis.call` does with a command is not decided here: the script's runner installs a
//! `Caller` for the length of one run (the shard's own store, or a helper thread's channel to the
//! shards, see `mod.rs`). The VM only checks what Redis checks before running a command from a
//! script (known command, arity, `noscript`, writes from read-only scripts).

use crate::commands::{self, CommandSpec};
use crate::protocol::reply::Reply;
use bytes::Bytes;
use mlua::{Function, Lua, StdLib, Table, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs a script's commands where their keys live. Every error reply it gives has been counted
/// (command and error statistics), as has every refusal passed to `refused`.
pub trait Caller {
    fn call(&mut self, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply;
    /// Count a command (`name`, if known) the script may not run, refused with `err`.
    fn refused(&mut self, name: Option<&'static str>, err: &str);
}

/// The state of the run in progress on this thread.
struct Run {
    caller: Box<dyn Caller>,
    read_only: bool,
    wrote: bool,
    /// Set by SCRIPT KILL (see `busy.rs`), looked at by the instruction-count hook.
    kill: Arc<AtomicBool>,
    killed: bool,
    started: std::time::Instant,
    /// busy-reply-threshold: past it the script shows in `busy.rs`; zero: never.
    busy_after: std::time::Duration,
    /// The server is shutting down: the script stops, so its shard can close cleanly.
    global: Option<Arc<crate::shard::Global>>,
    busy: Option<Arc<super::busy::Entry>>,
    eval: bool,
    name: String,
    command: Vec<Bytes>,
    engines: (usize, usize),
}

/// A function registered by a library being loaded: name, function, flags, description.
pub type Registered = (String, Function, Vec<String>, Option<String>);

thread_local! {
    static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
    /// Functions registered by the library being loaded (FUNCTION LOAD).
    static REGISTERING: RefCell<Option<Vec<Registered>>> = const { RefCell::new(None) };
    /// When the library being loaded started running (FUNCTION LOAD's 500 ms limit).
    static LOAD_STARTED: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// The Lua prelude: Redis's error handler (eval.c) and `redis.call`/`redis.pcall` written over
/// a primitive that never raises, so that errors are Lua tables as in Redis and the handler
/// finds the script's own line. The handler skips this prelude's frames.
const PRELUDE: &str = r#"
local dbg = debug
function __redis__err__handler(err)
  local lvl = 2
  local i = dbg.getinfo(lvl, 'nSl')
  while i and (i.what == 'C' or i.source == '@shardis_prelude') do
    lvl = lvl + 1
    i = dbg.getinfo(lvl, 'nSl')
  end
  if type(err) ~= 'table' then
    err = {err='ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
function __shardis_run(f, keys, args)
  return xpcall(function() return f(keys, args) end, __redis__err__handler)
end
"#;

/// The sandbox. Lua 5.1 has no read-only tables (Redis patches its Lua for them), so user code
/// runs with a proxy as its globals: reads go to the real globals (an unknown name is an
/// error), writes are refused, and the library tables scripts could tamper with are proxies
/// too. `setmetatable`, `rawset` and `loadstring` are wrapped so the proxies can't be undone.
/// Returns the proxy, which `Vm` installs as every user chunk's environment.
const PROTECT: &str = r#"
local G = _G
local readonly = {}
local function ro(t, what)
  local meta = {}
  local mt = {
    __index = function(_, n)
      local v = t[n]
      if v == nil and what then
        error("Script attempted to access nonexistent " .. what .. " '" .. tostring(n) .. "'", 0)
      end
      return v
    end,
    __newindex = function() error("Attempt to modify a readonly table", 2) end,
    __metatable = meta,
  }
  setmetatable(meta, {__newindex = function() error("Attempt to modify a readonly table", 2) end})
  local p = setmetatable({}, mt)
  readonly[p] = true
  readonly[meta] = true
  return p
end
G.debug = nil
G.loadfile = nil
G.dofile = nil
G.print = nil
local raw_redis = G.redis
-- While FUNCTION LOAD runs a library, its code sees only this (as in Redis's function_lua.c).
local lib_api = ro({redis = ro({
  register_function = raw_redis.register_function,
  log = raw_redis.log,
  LOG_DEBUG = raw_redis.LOG_DEBUG, LOG_VERBOSE = raw_redis.LOG_VERBOSE,
  LOG_NOTICE = raw_redis.LOG_NOTICE, LOG_WARNING = raw_redis.LOG_WARNING,
  REDIS_VERSION = raw_redis.REDIS_VERSION, REDIS_VERSION_NUM = raw_redis.REDIS_VERSION_NUM,
}, "global variable")}, "global variable")
raw_redis.register_function = nil
G.redis = ro(raw_redis)
G.bit = ro(G.bit)
G.cjson = ro(G.cjson)
local setmt, rset, ls, sfenv = setmetatable, rawset, loadstring, setfenv
local proxy
G.setmetatable = function(t, m)
  if readonly[t] then error("Attempt to modify a readonly table", 2) end
  return setmt(t, m)
end
G.rawset = function(t, k, v)
  if readonly[t] then error("Attempt to modify a readonly table", 2) end
  return rset(t, k, v)
end
G.loadstring = function(s, name)
  if type(s) == 'string' and s:sub(1, 1) == '\27' then
    return nil, 'binary chunks are not allowed'
  end
  local f, e = ls(s, name)
  if f then sfenv(f, proxy) end
  return f, e
end
proxy = ro(G, "global variable")
G._G = proxy
-- Functions' globals: the library API while their library loads, the sandbox afterwards.
local current = proxy
local fmeta = {}
setmt(fmeta, {__newindex = function() error("Attempt to modify a readonly table", 2) end})
local fenv = setmt({}, {
  __index = function(_, n) return current[n] end,
  __newindex = function() error("Attempt to modify a readonly table", 2) end,
  __metatable = fmeta,
})
readonly[fenv] = true
readonly[fmeta] = true
local function loading(on) if on then current = lib_api else current = proxy end end
return proxy, fenv, loading
"#;

/// A compiled script or a registered function, and its flags.
pub struct Vm {
    pub lua: Lua,
    /// The globals user code sees (see PROTECT).
    sandbox: Table,
    /// The globals of function libraries, and the switch to their load-time API.
    fenv: Table,
    loading: Function,
    run: Function,
    /// EVAL scripts by SHA1.
    scripts: HashMap<String, Function>,
    /// FUNCTION libraries' functions by function name.
    pub functions: HashMap<String, Function>,
    /// Runs since the last garbage-collection step (see `GC_PERIOD`).
    runs: std::cell::Cell<u32>,
}

/// Every this many runs the collector takes a step of this many KB (Redis's
/// LUA_GC_CYCLE_PERIOD): without it, garbage left by short scripts piles up between Lua's own
/// collections (a 4-shard server passed 100 KB after 10 000 INCR scripts).
const GC_PERIOD: u32 = 50;

fn err_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", text)?;
    Ok(Value::Table(t))
}

/// The field Redis sets in the error table of a command's error, counted when the command
/// failed: the script's reply passing it on is not counted again.
const COUNTED: &str = "ignore_error_stats_update";

/// A command's error as `redis.call`/`pcall` see it (already counted).
fn counted_err_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let v = err_table(lua, text)?;
    if let Value::Table(t) = &v {
        t.raw_set(COUNTED, true)?;
    }
    Ok(v)
}

/// The reply for an error table's text: counted again unless it carries `COUNTED`.
fn table_error(t: &Table, text: String) -> Reply {
    match t.raw_get::<Value>(COUNTED) {
        Ok(Value::Boolean(true)) => Reply::CountedError(text.into()),
        _ => Reply::err(text),
    }
}

/// Redis's luaPushErrorBuff: "-CODE msg" keeps its code, a bare message gets "ERR".
fn error_text(s: &str) -> String {
    match s.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => format!("{code} {}", msg.trim_matches(['\r', '\n'])),
            None => format!("ERR {rest}"),
        },
        None => format!("ERR {}", s.trim_matches(['\r', '\n'])),
    }
}

impl Vm {
    pub fn new() -> mlua::Result<Vm> {
        // SAFETY: the debug library is needed by Redis's error handler only; the prelude keeps
        // it in a local and removes the global before any user code runs.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                mlua::LuaOptions::default(),
            )
        };
        let g = lua.globals();
        let redis = lua.create_table()?;
        let raw = lua.create_function(raw_call)?;
        lua.set_named_registry_value(RAW_CALL, raw)?;
        // SAFETY: `redis_call` follows the Lua C API protocol (see there).
        redis.raw_set("call", unsafe { lua.create_c_function(redis_call)? })?;
        // SAFETY: as `redis_call`.
        redis.raw_set("pcall", unsafe { lua.create_c_function(redis_pcall)? })?;
        redis.raw_set(
            "error_reply",
            lua.create_function(|lua, v: Value| match v {
                Value::String(s) => {
                    let s = s.to_string_lossy();
                    let s = if s.starts_with('-') {
                        s
                    } else {
                        format!("-{s}")
                    };
                    err_table(lua, &error_text(&s))
                }
                _ => err_table(lua, "ERR wrong number or type of arguments"),
            })?,
        )?;
        redis.raw_set(
            "status_reply",
            lua.create_function(|lua, v: Value| match v {
                Value::String(s) => {
                    let t = lua.create_table()?;
                    t.raw_set("ok", s)?;
                    Ok(Value::Table(t))
                }
                _ => err_table(lua, "ERR wrong number or type of arguments"),
            })?,
        )?;
        redis.raw_set(
            "sha1hex",
            lua.create_function(|_, v: Value| match v {
                Value::String(s) => Ok(sha1_hex(&s.as_bytes())),
                _ => Err(mlua::Error::RuntimeError(
                    "wrong number of arguments".into(),
                )),
            })?,
        )?;
        redis.raw_set(
            "log",
            lua.create_function(|_, args: mlua::Variadic<Value>| {
                if args.len() < 2 {
                    return Err(mlua::Error::RuntimeError(
                        "redis.log() requires two arguments or more.".into(),
                    ));
                }
                let msg: Vec<String> = args[1..]
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.to_string_lossy(),
                        Value::Integer(i) => i.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => String::new(),
                    })
                    .collect();
                crate::logging::notice(&msg.join(" "));
                Ok(())
            })?,
        )?;
        redis.raw_set(
            "setresp",
            lua.create_function(|_, v: i64| {
                if v != 2 && v != 3 {
                    return Err(mlua::Error::RuntimeError(
                        "RESP version must be 2 or 3.".into(),
                    ));
                }
                Ok(())
            })?,
        )?;
        redis.raw_set(
            "set_repl",
            lua.create_function(|_, _: mlua::Variadic<Value>| Ok(()))?,
        )?;
        redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
        redis.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
        redis.raw_set("debug", lua.create_function(|_, ()| Ok(()))?)?;
        redis.raw_set("register_function", lua.create_function(register_function)?)?;
        for (k, v) in [
            ("REPL_NONE", 0),
            ("REPL_AOF", 1),
            ("REPL_SLAVE", 2),
            ("REPL_REPLICA", 2),
            ("REPL_ALL", 3),
            ("LOG_DEBUG", 0),
            ("LOG_VERBOSE", 1),
            ("LOG_NOTICE", 2),
            ("LOG_WARNING", 3),
        ] {
            redis.raw_set(k, v)?;
        }
        redis.raw_set("REDIS_VERSION", crate::commands::server::REDIS_VERSION)?;
        redis.raw_set("REDIS_VERSION_NUM", 0x07000f)?;
        g.raw_set("redis", redis)?;
        g.raw_set("bit", super::bit::library(&lua)?)?;
        g.raw_set("cjson", super::cjson::library(&lua)?)?;
        lua.load(PRELUDE).set_name("@shardis_prelude").exec()?;
        let run: Function = g.raw_get("__shardis_run")?;
        g.raw_set("__shardis_run", Value::Nil)?;
        let (sandbox, fenv, loading): (Table, Table, Function) =
            lua.load(PROTECT).set_name("@shardis_prelude").eval()?;
        install_hook(&lua, false);
        Ok(Vm {
            lua,
            sandbox,
            fenv,
            loading,
            run,
            scripts: HashMap::new(),
            functions: HashMap::new(),
            runs: std::cell::Cell::new(0),
        })
    }

    /// Compile a script body (without its shebang line, whose line feed it keeps).
    pub fn compile(&mut self, sha: &str, body: &[u8]) -> Result<(), String> {
        if self.scripts.contains_key(sha) {
            return Ok(());
        }
        let chunk = self
            .lua
            .load(body)
            .set_name("@user_script")
            .set_environment(self.sandbox.clone());
        match chunk.into_function() {
            Ok(f) => {
                self.scripts.insert(sha.to_string(), f);
                Ok(())
            }
            Err(e) => Err(format!(
                "ERR Error compiling script (new function): {}",
                lua_message(&e)
            )),
        }
    }

    pub fn has_script(&self, sha: &str) -> bool {
        self.scripts.contains_key(sha)
    }

    pub fn flush(&mut self) {
        self.scripts.clear();
        // Redis starts a new Lua state here, so the memory the scripts left goes with them; this
        // VM also holds the FUNCTION libraries, so it stays and collects instead.
        self.collect();
    }

    /// A full garbage collection, after what leaves garbage that no script run will step the
    /// collector through: a flush, a library loaded, replaced or dropped. Without it, 10 000
    /// `FUNCTION LOAD REPLACE` (Redis's suite) left every shard's VM at 60-110 KB of old
    /// libraries and compiler garbage, where Redis reports its EVAL VM alone.
    pub fn collect(&self) {
        let _ = self.lua.gc_collect();
    }

    /// Run EVAL script `sha` (compiled) with KEYS and ARGV.
    pub fn eval(&self, sha: &str, keys: &[Bytes], argv: &[Bytes], how: How) -> Reply {
        let Some(f) = self.scripts.get(sha) else {
            return Reply::err("NOSCRIPT No matching script. Please use EVAL.");
        };
        let g = self.lua.globals();
        let set = |name: &str, items: &[Bytes]| -> mlua::Result<()> {
            let t = self.lua.create_table_with_capacity(items.len(), 0)?;
            for (i, k) in items.iter().enumerate() {
                t.raw_set(i + 1, self.lua.create_string(k)?)?;
            }
            g.raw_set(name, t)
        };
        if let Err(e) = set("KEYS", keys).and_then(|_| set("ARGV", argv)) {
            return Reply::err(format!("ERR {e}"));
        }
        // EVAL's scripts take no arguments: the wrapper passes nil, nil.
        self.call_guarded(f, Value::Nil, Value::Nil, &format!("f_{sha}"), how, true)
    }

    /// Run function `name` of a loaded library with its keys and args tables.
    pub fn fcall(&self, name: &str, keys: &[Bytes], argv: &[Bytes], how: How) -> Reply {
        let Some(f) = self.functions.get(name) else {
            return Reply::err("ERR Function not found");
        };
        let mk = |items: &[Bytes]| -> mlua::Result<Table> {
            let t = self.lua.create_table_with_capacity(items.len(), 0)?;
            for (i, k) in items.iter().enumerate() {
                t.raw_set(i + 1, self.lua.create_string(k)?)?;
            }
            Ok(t)
        };
        let (k, a) = match mk(keys).and_then(|k| Ok((k, mk(argv)?))) {
            Ok(p) => p,
            Err(e) => return Reply::err(format!("ERR {e}")),
        };
        self.call_guarded(f, Value::Table(k), Value::Table(a), name, how, false)
    }

    fn call_guarded(
        &self,
        f: &Function,
        keys: Value,
        args: Value,
        funcname: &str,
        how: How,
        eval: bool,
    ) -> Reply {
        let kill = Arc::new(AtomicBool::new(false));
        let prev = RUN.with(|r| {
            r.borrow_mut().replace(Run {
                caller: how.caller,
                read_only: how.read_only,
                wrote: false,
                kill: kill.clone(),
                killed: false,
                started: std::time::Instant::now(),
                busy_after: how.busy_after,
                global: how.global,
                busy: None,
                eval,
                // FUNCTION STATS names a function (a busy EVAL refuses it).
                name: if eval {
                    String::new()
                } else {
                    funcname.to_owned()
                },
                command: how.command,
                engines: how.engines,
            })
        });
        let out: mlua::Result<mlua::MultiValue> = self.run.call((f.clone(), keys, args));
        let runs = self.runs.get() + 1;
        self.runs.set(runs % GC_PERIOD);
        if runs == GC_PERIOD {
            let _ = self.lua.gc_step_kbytes(GC_PERIOD as i32);
        }
        let run = RUN.with(|r| std::mem::replace(&mut *r.borrow_mut(), prev));
        if let Some(e) = run.as_ref().and_then(|r| r.busy.clone()) {
            super::busy::finished(&e);
        }
        let killed = run.as_ref().is_some_and(|r| r.killed);
        if killed {
            install_hook(&self.lua, false);
        }
        let out = match out {
            Ok(v) => v,
            Err(e) => return Reply::err(format!("ERR Error running script {funcname}, {e}")),
        };
        let mut vals = out.into_iter();
        let ok = matches!(vals.next(), Some(Value::Boolean(true)));
        let v = vals.next().unwrap_or(Value::Nil);
        if ok {
            return from_lua(&v);
        }
        if killed {
            return Reply::err(format!(
                "ERR Script killed by user with SCRIPT KILL... script: {funcname}, on @user_script:1."
            ));
        }
        match &v {
            Value::Table(t) => {
                let msg: String = match t.raw_get::<Value>("err") {
                    Ok(Value::String(s)) => s.to_string_lossy(),
                    _ => "ERR unknown error".into(),
                };
                let src: Option<String> = match t.raw_get::<Value>("source") {
                    Ok(Value::String(s)) => Some(s.to_string_lossy()),
                    _ => None,
                };
                let line: Option<String> = match t.raw_get::<Value>("line") {
                    Ok(Value::Integer(i)) => Some(i.to_string()),
                    Ok(Value::Number(n)) => Some((n as i64).to_string()),
                    Ok(Value::String(s)) => Some(s.to_string_lossy()),
                    _ => None,
                };
                let text = match (src, line) {
                    (Some(s), Some(l)) => format!("{msg} script: {funcname}, on {s}:{l}."),
                    _ => msg,
                };
                table_error(t, text)
            }
            other => {
                let msg = match other {
                    Value::String(s) => s.to_string_lossy(),
                    Value::Error(e) => e.to_string(),
                    _ => "execution failure".into(),
                };
                let msg: String = msg.chars().take(100).collect();
                Reply::err(format!("ERR Error running script {funcname}, {msg}"))
            }
        }
    }

    /// Load a library's code: run it with `redis.register_function` collecting the functions.
    pub fn load_library(&self, code: &[u8]) -> Result<Vec<Registered>, String> {
        // The shebang line goes; its line feed stays, so line numbers don't move.
        let skip = match code.starts_with(b"#!") {
            true => memchr::memchr(b'\n', code).unwrap_or(code.len()),
            false => 0,
        };
        let f = self
            .lua
            .load(&code[skip..])
            .set_name("@user_function")
            .set_environment(self.fenv.clone())
            .into_function()
            .map_err(|e| format!("ERR Error compiling function: {}", lua_message(&e)))?;
        REGISTERING.with(|r| *r.borrow_mut() = Some(Vec::new()));
        LOAD_STARTED.with(|l| l.set(Some(std::time::Instant::now())));
        let res = self.loading.call::<()>(true).and_then(|_| f.call::<()>(()));
        LOAD_STARTED.with(|l| l.set(None));
        let _ = self.loading.call::<()>(false);
        let got = REGISTERING
            .with(|r| r.borrow_mut().take())
            .unwrap_or_default();
        if let Err(e) = res {
            return Err(format!(
                "ERR Error registering functions: {}",
                lua_message(&e)
            ));
        }
        if got.is_empty() {
            return Err("ERR No functions registered".into());
        }
        Ok(got)
    }
}

/// How a run goes: who runs its commands, and whether it may write.
pub struct How {
    pub caller: Box<dyn Caller>,
    pub read_only: bool,
    pub busy_after: std::time::Duration,
    pub global: Option<Arc<crate::shard::Global>>,
    /// The EVAL or FCALL as sent, and (libraries, functions) loaded: what FUNCTION STATS
    /// shows while the script is busy.
    pub command: Vec<Bytes>,
    pub engines: (usize, usize),
}

/// The text of a Lua error without mlua's decoration.
fn lua_message(e: &mlua::Error) -> String {
    let m = lua_message_full(e);
    match m.find("\nstack traceback:") {
        Some(i) => m[..i].to_string(),
        None => m,
    }
}

fn lua_message_full(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_message_full(cause),
        other => other.to_string(),
    }
}

/// A number passed to a command: the shortest text that reads back as the same double, as
/// Redis's fpconv_dtoa gives (so 2^53-1 stays exact).
fn arg_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        return (n as i64).to_string();
    }
    let s = format!("{n}");
    if s.len() > 21 {
        return format!("{n:e}").replace('e', "e+").replace("e+-", "e-");
    }
    s
}

/// A number as Lua 5.1 prints it (LUA_NUMBER_FMT, "%.14g").
pub fn lua_number(n: f64) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is large enough for any %.14g output and snprintf NUL-terminates it.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%.14g".as_ptr(),
            n,
        )
    };
    String::from_utf8_lossy(&buf[..(len.max(0) as usize).min(buf.len() - 1)]).into_owned()
}

pub fn sha1_hex(b: &[u8]) -> String {
    sha1_smol::Sha1::from(b).digest().to_string()
}

/// The hook every 100 000 instructions, or, once a script is killed, on every line: a kill
/// error caught by `pcall` is raised again on the next line, until one lands outside any
/// `pcall` and ends the script (Redis switches its hook the same way).
fn install_hook(lua: &Lua, every_line: bool) {
    let triggers = if every_line {
        mlua::HookTriggers::EVERY_LINE
    } else {
        mlua::HookTriggers::new().every_nth_instruction(100_000)
    };
    lua.set_hook(triggers, hook);
}

/// The instruction-count hook: SCRIPT KILL, and making a long script visible to it.
fn hook(lua: &Lua, _: mlua::Debug) -> mlua::Result<mlua::VmState> {
    let load_too_long = LOAD_STARTED.with(|l| {
        l.get()
            .is_some_and(|t| t.elapsed() >= std::time::Duration::from_millis(500))
    });
    if load_too_long {
        return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
    }
    let busy = RUN.with(|r| {
        let mut r = r.borrow_mut();
        let run = r.as_mut()?;
        if run.busy.is_none()
            && !run.busy_after.is_zero()
            && run.started.elapsed() >= run.busy_after
        {
            run.busy = Some(super::busy::register(super::busy::Entry::new(
                run.kill.clone(),
                run.eval,
                std::mem::take(&mut run.name),
                std::mem::take(&mut run.command),
                run.started,
                run.engines,
            )));
        }
        let b = run.busy.as_ref()?;
        b.wrote.store(run.wrote, Ordering::Relaxed);
        Some(run.eval)
    });
    // Past the threshold: the shard's other clients get their answers (BUSY, SCRIPT KILL …).
    if let Some(eval) = busy {
        crate::net::busy::poll(eval);
    }
    let stop = RUN.with(|r| {
        let mut r = r.borrow_mut();
        let run = r.as_mut()?;
        let stopping = run
            .global
            .as_ref()
            .is_some_and(|g| g.shutdown.load(Ordering::Relaxed));
        if run.kill.load(Ordering::Relaxed) || stopping {
            return Some(std::mem::replace(&mut run.killed, true));
        }
        None
    });
    if stop == Some(false) {
        install_hook(lua, true);
    }
    match stop {
        Some(_) => Err(mlua::Error::RuntimeError(
            "Script killed by user with SCRIPT KILL...".into(),
        )),
        None => Ok(mlua::VmState::Continue),
    }
}

/// `redis.register_function(name, f)` or `redis.register_function{function_name=…,
/// callback=…, flags={…}}`, only while FUNCTION LOAD runs the library.
fn register_function(_: &Lua, args: mlua::Variadic<Value>) -> mlua::Result<()> {
    let fail = |m: &str| Err(mlua::Error::RuntimeError(m.to_string()));
    let mut description = None;
    let (name, f, flags) =
        match args.as_slice() {
            [Value::String(n), Value::Function(f)] => (n.to_string_lossy(), f.clone(), Vec::new()),
            [Value::String(_), _] => {
                return fail("second argument to redis.register_function must be a function")
            }
            [_, _] => return fail("first argument to redis.register_function must be a string"),
            [v] if !matches!(v, Value::Table(_)) => {
                return fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
            }
            [Value::Table(t)] => {
                let (name, f, flags, desc) = named_args(t)?;
                description = desc;
                (name, f, flags)
            }
            _ => {
                return Err(mlua::Error::RuntimeError(
                    "wrong number of arguments to redis.register_function".into(),
                ))
            }
        };
    let ok_name = !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if !ok_name {
        return Err(mlua::Error::RuntimeError(
            "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into(),
        ));
    }
    REGISTERING.with(|r| match r.borrow_mut().as_mut() {
        Some(list) => {
            if list.iter().any(|(n, ..)| *n == name) {
                return Err(mlua::Error::RuntimeError(
                    "Function already exists in the library".into(),
                ));
            }
            list.push((name, f, flags, description));
            Ok(())
        }
        None => Err(mlua::Error::RuntimeError(
            "redis.register_function can only be called on FUNCTION LOAD command".into(),
        )),
    })
}

/// Blocking commands Redis 7.0 flags `noscript` (BLMPOP/BZMPOP run without blocking there).
const NOSCRIPT_BLOCKING: &[&str] = &[
    "blpop",
    "brpop",
    "brpoplpush",
    "blmove",
    "bzpopmin",
    "bzpopmax",
];

const RAW_CALL: &str = "shardis_raw_call";

/// `redis.call`: a C function, as in Redis, so that `return redis.call(…)` is no Lua tail call
/// and the error handler still finds the script's line; it raises the error table itself.
unsafe extern "C-unwind" fn redis_call(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    call_packed(l);
    if mlua::ffi::lua_toboolean(l, -2) == 0 {
        // Nothing owned lives in this frame: the error's longjmp leaves nothing behind.
        mlua::ffi::lua_error(l);
    }
    1
}

/// `redis.pcall`: as `redis.call`, the error table returned instead of raised.
unsafe extern "C-unwind" fn redis_pcall(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    call_packed(l);
    1
}

/// Call `raw_call` with this C call's arguments packed in one table (a script may pass
/// thousands: `redis.call('lpush', k, unpack(t))`), leaving (ok, reply) on the stack.
unsafe fn call_packed(l: *mut mlua::ffi::lua_State) {
    let n = mlua::ffi::lua_gettop(l);
    mlua::ffi::lua_createtable(l, n, 0);
    mlua::ffi::lua_insert(l, 1);
    for i in (1..=n).rev() {
        mlua::ffi::lua_rawseti(l, 1, i as _);
    }
    mlua::ffi::lua_getfield(
        l,
        mlua::ffi::LUA_REGISTRYINDEX,
        c"shardis_raw_call".as_ptr(),
    );
    mlua::ffi::lua_insert(l, 1);
    // `raw_call` reports command errors as values; only a Lua failure (memory) raises here.
    mlua::ffi::lua_call(l, 1, 2);
}

/// `redis.register_function{function_name=…, callback=…, flags={…}, description=…}`.
fn named_args(t: &Table) -> mlua::Result<(String, Function, Vec<String>, Option<String>)> {
    let fail = |m: String| Err(mlua::Error::RuntimeError(m));
    let (mut name, mut f, mut flags, mut desc) = (None, None, Vec::new(), None);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else {
            return fail(
                "named argument key given to redis.register_function is not a string".into(),
            );
        };
        match (k.to_string_lossy().as_str(), v) {
            ("function_name", Value::String(s)) => name = Some(s.to_string_lossy()),
            ("function_name", _) => {
                return fail("function_name argument given to redis.register_function must be a string".into())
            }
            ("description", Value::String(s)) => desc = Some(s.to_string_lossy()),
            ("description", _) => {
                return fail("description argument given to redis.register_function must be a string".into())
            }
            ("callback", Value::Function(c)) => f = Some(c),
            ("callback", _) => {
                return fail("callback argument given to redis.register_function must be a function".into())
            }
            ("flags", Value::Table(ft)) => {
                for v in ft.sequence_values::<Value>() {
                    match v? {
                        Value::String(f) if super::flags::KNOWN.contains(&&*f.to_string_lossy()) => {
                            flags.push(f.to_string_lossy())
                        }
                        _ => return fail("unknown flag given".into()),
                    }
                }
            }
            ("flags", _) => {
                return fail("flags argument to redis.register_function must be a table representing function flags".into())
            }
            _ => return fail("unknown argument given to redis.register_function".into()),
        }
    }
    let Some(name) = name else {
        return fail("redis.register_function must get a function name argument".into());
    };
    let Some(f) = f else {
        return fail("redis.register_function must get a callback argument".into());
    };
    Ok((name, f, flags, desc))
}

/// The primitive under `redis.call`/`redis.pcall`: (true, reply) or (false, error table).
fn raw_call(lua: &Lua, packed: Table) -> mlua::Result<(bool, Value)> {
    let n = packed.raw_len();
    let mut args = Vec::with_capacity(n);
    for i in 1..=n {
        args.push(packed.raw_get::<Value>(i)?);
    }
    if args.is_empty() {
        return Ok((
            false,
            err_table(
                lua,
                "ERR Please specify at least one argument for this redis lib call",
            )?,
        ));
    }
    let mut argv = Vec::with_capacity(args.len());
    for v in args.iter() {
        match v {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => argv.push(Bytes::from(arg_number(*i as f64))),
            Value::Number(n) => argv.push(Bytes::from(arg_number(*n))),
            _ => {
                return Ok((
                    false,
                    err_table(
                        lua,
                        "ERR Lua redis lib command arguments must be strings or integers",
                    )?,
                ))
            }
        }
    }
    let reply = RUN.with(|r| {
        let mut r = r.borrow_mut();
        let run = r.as_mut()?;
        let spec = match allowed(run.read_only, &argv) {
            Ok(spec) => spec,
            Err((name, e)) => {
                run.caller.refused(name, &e);
                return Some(Reply::Error(e.into()));
            }
        };
        if spec.is_write() {
            run.wrote = true;
        }
        Some(run.caller.call(spec, argv))
    });
    let Some(reply) = reply else {
        let e = "ERR redis.call/pcall can only be called inside a script invocation";
        return Ok((false, err_table(lua, e)?));
    };
    match reply {
        // Counted as the command failed or was refused (Redis's scriptCall).
        Reply::Error(e) | Reply::CountedError(e) => Ok((false, counted_err_table(lua, &e)?)),
        r => Ok((true, to_lua(lua, &r)?)),
    }
}

/// The command a script may run with `argv`, or why not (and the command's name, if known).
fn allowed(
    read_only: bool,
    argv: &[Bytes],
) -> Result<&'static CommandSpec, (Option<&'static str>, String)> {
    let spec = match commands::lookup(&argv[0]) {
        Some(s) if s.arity_ok(argv.len()) => commands::sort::for_script(s),
        Some(s) => {
            let e = "ERR Wrong number of args calling Redis command from script";
            return Err((Some(s.name), e.into()));
        }
        None => return Err((None, "ERR Unknown Redis command called from script".into())),
    };
    let refuse = |e: String| Err((Some(spec.name), e));
    let denied = spec.has_flag("noscript") || NOSCRIPT_BLOCKING.contains(&spec.name);
    if denied && !super::deny_disabled() {
        return refuse("ERR This Redis command is not allowed from script".into());
    }
    if crate::commands::stream::blocks(spec, argv) {
        return refuse(format!(
            "ERR {} command is not allowed with BLOCK option from scripts",
            String::from_utf8_lossy(&argv[0])
        ));
    }
    let write = spec.is_write() || spec.has_flag("may_replicate");
    if read_only && write {
        return refuse("ERR Write commands are not allowed from read-only scripts.".into());
    }
    Ok(spec)
}

/// A command's reply as Lua sees it (RESP2 rules, as Redis's redisProtocolToLuaType).
pub fn to_lua(lua: &Lua, r: &Reply) -> mlua::Result<Value> {
    Ok(match r {
        Reply::Simple(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", s.as_ref())?;
            Value::Table(t)
        }
        Reply::Error(e) | Reply::CountedError(e) => err_table(lua, e)?,
        Reply::Int(i) => Value::Integer(*i),
        Reply::Bulk(b) | Reply::Verbatim(b) | Reply::DoubleText(b) => {
            Value::String(lua.create_string(b)?)
        }
        Reply::Short(b) => Value::String(lua.create_string(&b[..])?),
        Reply::Double(d) => Value::String(lua.create_string(crate::util::num::fmt_double(*d))?),
        Reply::Bool(b) => Value::Integer(*b as mlua::Integer),
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, it) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, it)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, to_lua(lua, k)?)?;
                t.raw_set(2 * i + 2, to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
        Reply::KeyedArrays(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len(), 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                let p = lua.create_table_with_capacity(2, 0)?;
                p.raw_set(1, to_lua(lua, k)?)?;
                p.raw_set(2, to_lua(lua, v)?)?;
                t.raw_set(i + 1, p)?;
            }
            Value::Table(t)
        }
        Reply::Raw(b) => match super::resp::parse(b) {
            Some(r) => to_lua(lua, &r)?,
            None => Value::Boolean(false),
        },
    })
}

/// How deep a returned table may nest. Redis stops where the Lua stack runs out (a table
/// holding itself); here the limit also bounds the recursion of conversion and encoding.
const MAX_NESTING: usize = 200;

/// A script's return value as a reply (Redis's luaReplyToRedisReply, RESP2).
pub fn from_lua(v: &Value) -> Reply {
    from_lua_at(v, 0)
}

fn from_lua_at(v: &Value, depth: usize) -> Reply {
    if depth > MAX_NESTING {
        return Reply::err("ERR reached lua stack limit");
    }
    match v {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(true) => Reply::Int(1),
        Value::Boolean(false) => Reply::Nil,
        Value::Integer(i) => Reply::Int(*i),
        // Lua numbers are truncated to integers, as Redis casts them.
        Value::Number(n) => Reply::Int(*n as i64),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return table_error(t, e.to_string_lossy());
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                return Reply::Simple(s.to_string_lossy().replace(['\r', '\n'], " ").into());
            }
            let mut out = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(v) => out.push(from_lua_at(&v, depth + 1)),
                }
            }
            Reply::Array(out)
        }
        _ => Reply::Nil,
    }
}
