//! Identifier generation for tags, branches and Call-IDs from a seed the shell provides, so that the core
//! never touches a thread RNG and tests are deterministic.

/// A small xorshift generator. Not cryptographic: SIP tags and branches only need to be unique.
#[derive(Debug, Clone)]
pub struct Ids(u64);

impl Ids {
    /// A generator from a seed (a zero seed is replaced by a fixed constant).
    pub fn new(seed: u64) -> Ids {
        Ids(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A fresh dialog tag.
    pub fn tag(&mut self) -> String {
        format!("{:x}", self.next_u64())
    }

    /// A fresh Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{:x}", self.next_u64())
    }

    /// A fresh Call-ID.
    pub fn call_id(&mut self) -> String {
        format!("{:x}{:x}@parley", self.next_u64(), self.next_u64())
    }
}
