//! 24-bit packet sequence numbers (IBA vol. 1, 9.7.1).
//!
//! PSNs (and MSNs, IBA 9.7.5.1.1) are 24-bit counters that wrap modulo 2^24.
//! Two PSNs are compared by their signed 24-bit distance: a PSN less than
//! 2^23 ahead is "later", otherwise "earlier" (IBA 9.7.1: the valid PSN window
//! is half the PSN space; the other half is the duplicate region).

/// Mask of the 24 significant bits of a PSN or MSN.
pub const PSN_MASK: u32 = 0x00ff_ffff;

/// Number of distinct PSNs (2^24).
pub const PSN_MODULUS: u32 = 0x0100_0000;

/// Half the PSN space (2^23): the largest forward distance is `PSN_HALF - 1`.
pub const PSN_HALF: u32 = 0x0080_0000;

/// A 24-bit packet sequence number (IBA 9.7.1); arithmetic wraps mod 2^24.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default, Hash)]
pub struct Psn(u32);

/// A 24-bit message sequence number (IBA 9.7.5.1.1): same arithmetic as a PSN.
pub type Msn = Psn;

impl Psn {
    /// Makes a PSN from the low 24 bits of `value` (the upper 8 bits are dropped).
    #[inline]
    pub const fn new(value: u32) -> Psn {
        Psn(value & PSN_MASK)
    }

    /// The PSN as an integer in `0..2^24`.
    #[inline]
    pub const fn value(self) -> u32 {
        self.0
    }

    /// `self + n` modulo 2^24.
    #[inline]
    #[must_use]
    pub const fn add(self, n: u32) -> Psn {
        Psn(self.0.wrapping_add(n) & PSN_MASK)
    }

    /// `self - n` modulo 2^24.
    #[inline]
    #[must_use]
    pub const fn sub(self, n: u32) -> Psn {
        Psn(self.0.wrapping_sub(n) & PSN_MASK)
    }

    /// The PSN following this one (`self + 1` modulo 2^24).
    #[inline]
    #[must_use]
    pub const fn next(self) -> Psn {
        self.add(1)
    }

    /// Signed distance `later - self` as a 24-bit two's-complement number, in
    /// `-2^23 .. 2^23` (IBA 9.7.1: half the space is ahead, half behind).
    #[inline]
    pub const fn distance_to(self, later: Psn) -> i32 {
        let diff = later.0.wrapping_sub(self.0) & PSN_MASK;
        // Sign-extend bit 23: shift it into bit 31, then arithmetic shift back.
        ((diff << 8) as i32) >> 8
    }

    /// True if `other` is strictly after `self` (`self.distance_to(other) > 0`).
    #[inline]
    pub const fn is_before(self, other: Psn) -> bool {
        self.distance_to(other) > 0
    }

    /// True if `other` is strictly before `self`.
    #[inline]
    pub const fn is_after(self, other: Psn) -> bool {
        other.is_before(self)
    }

    /// True if `self` lies in the half-open window `[start, start + len)`
    /// taken modulo 2^24 (`len` at most 2^24).
    #[inline]
    pub const fn in_window(self, start: Psn, len: u32) -> bool {
        let offset = self.0.wrapping_sub(start.0) & PSN_MASK;
        offset < len
    }
}

impl From<Psn> for u32 {
    fn from(psn: Psn) -> u32 {
        psn.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // IBA 9.7.1: PSN arithmetic is modulo 2^24.
    #[test]
    fn new_masks_to_24_bits() {
        assert_eq!(Psn::new(0xff12_3456).value(), 0x12_3456);
        assert_eq!(Psn::new(PSN_MODULUS).value(), 0);
    }

    #[test]
    fn add_sub_wrap() {
        assert_eq!(Psn::new(PSN_MASK).add(1), Psn::new(0));
        assert_eq!(Psn::new(0).sub(1), Psn::new(PSN_MASK));
        assert_eq!(Psn::new(5).add(u32::MAX), Psn::new(4));
        assert_eq!(Psn::new(5).sub(u32::MAX), Psn::new(6));
    }

    // IBA 9.7.1: a PSN is "ahead" if within 2^23 in the forward direction.
    #[test]
    fn distance_is_signed_24_bit() {
        let zero = Psn::new(0);
        assert_eq!(zero.distance_to(Psn::new(1)), 1);
        assert_eq!(zero.distance_to(Psn::new(PSN_MASK)), -1);
        assert_eq!(zero.distance_to(Psn::new(PSN_HALF - 1)), 0x7f_ffff);
        assert_eq!(zero.distance_to(Psn::new(PSN_HALF)), -0x80_0000);
        assert_eq!(Psn::new(PSN_MASK).distance_to(Psn::new(2)), 3);
        assert!(Psn::new(PSN_MASK).is_before(Psn::new(0)));
        assert!(!Psn::new(0).is_before(Psn::new(0)));
        assert!(Psn::new(1).is_after(Psn::new(0)));
        assert!(!Psn::new(0).is_after(Psn::new(1)));
        // Exactly half the space apart: neither is before the other's successor
        // half, by the [-2^23, 2^23) convention `b` is behind `a` and vice versa.
        assert!(!Psn::new(0).is_before(Psn::new(PSN_HALF)));
        assert!(!Psn::new(PSN_HALF).is_before(Psn::new(0)));
    }

    #[test]
    fn window() {
        assert!(Psn::new(1).in_window(Psn::new(PSN_MASK), 3));
        assert!(!Psn::new(2).in_window(Psn::new(PSN_MASK), 3));
        assert!(!Psn::new(0).in_window(Psn::new(0), 0));
    }
}
