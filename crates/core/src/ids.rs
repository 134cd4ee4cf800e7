//! Identifier generation for tags, branches and Call-IDs from a seed the shell provides, so that the core
//! never touches a thread RNG and tests are deterministic.

/// A ChaCha8 stream seeded by the shell. Each call, endpoint and trunk gets its own generator seeded
/// from the switch's: the streams are independent, so the tags, branches and Call-IDs of calls
/// running side by side never collide (a branch shared by two calls' legs would hand one leg's
/// responses to the other's transaction), and a peer that sees some of them cannot work out the
/// next ones of another call.
#[derive(Debug, Clone)]
pub struct Ids(rand_chacha::ChaCha8Rng);

impl Ids {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Ids {
        use rand_chacha::rand_core::SeedableRng;
        Ids(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        use rand_chacha::rand_core::RngCore;
        self.0.next_u64()
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

#[cfg(test)]
mod tests {
    use super::Ids;
    use std::collections::HashSet;

    /// Generators seeded one from another (as the switch seeds each call's) share no values: with a
    /// plain xorshift, each child's stream was its parent's shifted by one step.
    #[test]
    fn children_seeded_from_a_parent_do_not_overlap() {
        let mut parent = Ids::new(7);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let mut child = Ids::new(parent.next_u64());
            for _ in 0..50 {
                assert!(seen.insert(child.branch()), "a branch came twice");
            }
        }
    }
}
