//! Key → hash slot → shard. Slots are Redis Cluster's (CRC16/XMODEM of the key or of its
//! `{hash tag}`, mod 16384), mapped to shards in contiguous ranges, so hash tags co-locate keys
//! and the same table can later serve cluster mode.

pub const SLOTS: usize = 16384;

// Slice-by-16 tables (8 KiB): a typical key is hashed in one step, not byte by byte (perf put the
// byte-wise CRC at ~3.5% of a 2-shard GET run, where every command is routed).
const XMODEM: crc::Crc<u16, crc::Table<16>> =
    crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_XMODEM);

/// The part of the key that is hashed: the content of the first non-empty `{...}`, else all.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    // memchr: a byte-by-byte search was most of `dispatch::route` in perf (every key of every
    // command is routed with more than one shard).
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

#[inline]
pub fn slot(key: &[u8]) -> usize {
    XMODEM.checksum(hash_tag(key)) as usize % SLOTS
}

/// The shard owning a slot, for `shards` shards in contiguous ranges.
#[inline]
pub fn slot_shard(slot: usize, shards: usize) -> usize {
    slot * shards / SLOTS
}

#[inline]
pub fn key_shard(key: &[u8], shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    slot_shard(slot(key), shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_cluster_keyslot() {
        // Values from redis-cli CLUSTER KEYSLOT.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
    }

    #[test]
    fn ranges_cover_all_shards_in_order() {
        for shards in [1, 2, 3, 4, 7, 64] {
            let mut last = 0;
            for s in 0..SLOTS {
                let sh = slot_shard(s, shards);
                assert!(sh >= last && sh < shards);
                last = sh;
            }
            assert_eq!(last, shards - 1);
        }
    }
}
