//! When a tracked face needs the embedding model: on its first good frame, then again only
//! every `recheck_interval` frames or when the face got clearly better (bigger, surer) than
//! the one its identity came from. In between, the identity comes from the recognition cache
//! (Redis) or, while Redis is away, from the element's memory of the track.

use fess::gallery::{CachedRecognition, Identity};

/// Quality must grow by this factor to be worth a new embedding.
pub const QUALITY_GAIN: f32 = 1.25;

/// What the element remembers of a face track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackMemory {
    pub identity: Identity,
    /// Frame number of the last embedding.
    pub embedded_frame: u64,
    /// Quality of the face that embedding came from.
    pub quality: f32,
    pub gallery_version: u64,
}

/// Where this frame's identity of a face comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Memory,
    Embed,
}

/// Decides for one face on frame `frame`. `cached` is the cache's entry for the track (`None`
/// on a miss or with Redis down), `redis_up` whether the cache could be asked.
pub fn decide(
    recheck_interval: u64,
    frame: u64,
    quality: f32,
    gallery_version: u64,
    memory: Option<&TrackMemory>,
    cached: Option<&CachedRecognition>,
    redis_up: bool,
) -> Source {
    // A result matched against another gallery may name the wrong person: never reuse it.
    let memory = memory.filter(|m| m.gallery_version == gallery_version);
    let cached = cached.filter(|c| c.gallery_version == gallery_version);
    if let Some(m) = memory {
        if frame.saturating_sub(m.embedded_frame) >= recheck_interval {
            return Source::Embed;
        }
    }
    let best = memory
        .map(|m| m.quality)
        .into_iter()
        .chain(cached.map(|c| c.quality))
        .fold(None, |acc: Option<f32>, q| {
            Some(acc.map_or(q, |a| a.max(q)))
        });
    match best {
        Some(b) if quality > b * QUALITY_GAIN => Source::Embed,
        _ if cached.is_some() => Source::Cache,
        // Redis away: the track's own memory stands in; with Redis up a miss means the entry
        // expired (cache-ttl), which asks for a fresh look.
        _ if memory.is_some() && !redis_up => Source::Memory,
        _ => Source::Embed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            person_id: Some("ann".into()),
            name: Some("Ann".into()),
            authorized: true,
            similarity: 0.9,
        }
    }

    fn mem(frame: u64, quality: f32, version: u64) -> TrackMemory {
        TrackMemory {
            identity: identity(),
            embedded_frame: frame,
            quality,
            gallery_version: version,
        }
    }

    fn cached(quality: f32, version: u64) -> CachedRecognition {
        CachedRecognition {
            identity: identity(),
            quality,
            gallery_version: version,
        }
    }

    #[test]
    fn first_frame_embeds_then_the_cache_answers_until_the_recheck() {
        assert_eq!(decide(30, 0, 10.0, 1, None, None, true), Source::Embed);
        let m = mem(0, 10.0, 1);
        let c = cached(10.0, 1);
        assert_eq!(
            decide(30, 1, 10.0, 1, Some(&m), Some(&c), true),
            Source::Cache
        );
        assert_eq!(
            decide(30, 29, 12.0, 1, Some(&m), Some(&c), true),
            Source::Cache
        );
        assert_eq!(
            decide(30, 30, 10.0, 1, Some(&m), Some(&c), true),
            Source::Embed
        );
        // Another pipeline's entry for the track serves a track this element never embedded.
        assert_eq!(decide(30, 5, 10.0, 1, None, Some(&c), true), Source::Cache);
    }

    #[test]
    fn a_clearly_better_face_is_embedded_again() {
        let m = mem(0, 10.0, 1);
        let c = cached(10.0, 1);
        assert_eq!(
            decide(30, 3, 12.4, 1, Some(&m), Some(&c), true),
            Source::Cache
        );
        assert_eq!(
            decide(30, 3, 12.6, 1, Some(&m), Some(&c), true),
            Source::Embed
        );
        // The better of memory and cache is the bar.
        let good = cached(20.0, 1);
        assert_eq!(
            decide(30, 3, 13.0, 1, Some(&m), Some(&good), true),
            Source::Cache
        );
    }

    #[test]
    fn expiry_redis_down_and_gallery_changes() {
        let m = mem(0, 10.0, 1);
        // Entry expired (miss with Redis up): look again.
        assert_eq!(decide(30, 5, 10.0, 1, Some(&m), None, true), Source::Embed);
        // Redis down: the track's memory answers.
        assert_eq!(
            decide(30, 5, 10.0, 1, Some(&m), None, false),
            Source::Memory
        );
        // The gallery changed: neither memory nor cache may answer.
        let c = cached(10.0, 1);
        assert_eq!(
            decide(30, 5, 10.0, 2, Some(&m), Some(&c), true),
            Source::Embed
        );
        assert_eq!(decide(30, 5, 10.0, 2, Some(&m), None, false), Source::Embed);
    }
}
