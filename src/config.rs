// PLACEHOLDER until the real module lands.
#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16, pub bind: Vec<String>, pub shards: usize, pub databases: usize, pub maxclients: u64,
    pub timeout: u64, pub tcp_keepalive: u64, pub proto_max_bulk_len: u64, pub client_query_buffer_limit: u64,
    pub hz: u64, pub active_expire_effort: u64, pub loglevel: String, pub logfile: String, pub requirepass: String,
    pub maxmemory: u64, pub maxmemory_policy: String, pub shard_spin_us: u64, pub tcp_backlog: u64,
}
impl Config {
    pub fn from_args(args: &[String]) -> anyhow::Result<Config> {
        let mut c = Config { port: 6379, bind: vec!["127.0.0.1".into(), "-::1".into()], shards: 2, databases: 16, maxclients: 10000, timeout: 0, tcp_keepalive: 300, proto_max_bulk_len: 512 << 20, client_query_buffer_limit: 1 << 30, hz: 10, active_expire_effort: 1, loglevel: "notice".into(), logfile: String::new(), requirepass: String::new(), maxmemory: 0, maxmemory_policy: "noeviction".into(), shard_spin_us: 0, tcp_backlog: 511 };
        let mut i = 0;
        while i + 1 < args.len() {
            match args[i].as_str() { "--port" => c.port = args[i+1].parse()?, "--shards" => c.shards = args[i+1].parse()?, "--bind" => c.bind = vec![args[i+1].clone()], _ => {} }
            i += 2;
        }
        Ok(c)
    }
    pub fn get(&self, _p: &[&[u8]]) -> Vec<(String, String)> { vec![] }
    pub fn set(&mut self, _p: &[(&[u8], &[u8])]) -> Result<(), String> { Ok(()) }
    pub fn rewrite_text(&self) -> String { String::new() }
}
