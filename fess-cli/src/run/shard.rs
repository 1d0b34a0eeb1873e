//! `fess run --shard I/N`: which cameras of a shared cameras file this host runs. Each camera
//! goes to the shard with the highest weight for its id (rendezvous hashing), so every host
//! decides alone, the shards are disjoint and cover every camera, and going from N to N+1
//! shards moves only the cameras the new shard wins (about 1/(N+1) of them).

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0-based, as a StatefulSet's ordinals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Most shards: a bound so a typo cannot make the placement loop long.
const MAX_SHARDS: u32 = 10_000;

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("'{s}' is not a shard: give INDEX/COUNT, e.g. 0/3 (INDEX from 0)");
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("shard count {count}: from 1 to {MAX_SHARDS}"));
        }
        if index >= count {
            return Err(format!(
                "shard {index}/{count}: the index runs from 0 to {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether camera `id` belongs to this shard.
    pub fn owns(&self, id: &str) -> bool {
        owner(id, self.count) == self.index
    }
}

/// The shard of `count` that camera `id` goes to.
pub fn owner(id: &str, count: u32) -> u32 {
    (0..count)
        .max_by_key(|&shard| (weight(id, shard), shard))
        .unwrap_or(0)
}

/// A fixed hash (FNV-1a, then a SplitMix64 finaliser to spread it), never the standard
/// library's, which may change between Rust releases: placement must not move on an upgrade.
fn weight(id: &str, shard: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes().chain(shard.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("cam-{i}")).collect()
    }

    #[test]
    fn shards_are_parsed_and_bad_ones_refused() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(" 0 / 1 ".parse::<Shard>().unwrap().to_string(), "0/1");
        for bad in ["4/4", "1/0", "x/3", "3", "-1/3", "1/99999"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_camera() {
        let ids = ids(1000);
        for count in 1..=8 {
            for id in &ids {
                let owners = (0..count)
                    .filter(|&index| Shard { index, count }.owns(id))
                    .count();
                assert_eq!(owners, 1, "{id} with {count} shards");
            }
            // Balanced within a quarter of the fair share.
            let fair = ids.len() as f64 / count as f64;
            for index in 0..count {
                let n = ids.iter().filter(|id| owner(id, count) == index).count() as f64;
                assert!((n - fair).abs() <= 0.25 * fair, "{index}/{count}: {n}");
            }
        }
    }

    #[test]
    fn one_more_shard_moves_only_its_share() {
        let ids = ids(2000);
        for count in 1..=7 {
            let moved: Vec<&String> = ids
                .iter()
                .filter(|id| owner(id, count) != owner(id, count + 1))
                .collect();
            // Every camera that moves, moves to the new shard.
            assert!(moved.iter().all(|id| owner(id, count + 1) == count));
            let share = moved.len() as f64 / ids.len() as f64;
            let fair = 1.0 / (count + 1) as f64;
            assert!((share - fair).abs() < 0.3 * fair, "{count}: {share}");
        }
    }

    #[test]
    fn placement_is_pinned() {
        // A change of the hash would move cameras between hosts on an upgrade.
        let placed: Vec<u32> = ["gate-1", "gate-2", "yard", "lobby", "cam-0"]
            .iter()
            .map(|id| owner(id, 4))
            .collect();
        assert_eq!(placed, [3, 2, 0, 2, 1]);
    }
}
