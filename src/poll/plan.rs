//! Request planning: which reads fetch a device's points (DESIGN.md "Polling").
//!
//! Points of one register table are sorted by address and merged into one read while the
//! gap between them is at most the profile's `max_gap` and the read stays within the
//! Modbus limits (125 registers, 2000 bits; Modbus Application Protocol v1.1b3 §6.1-6.4).
//! A point is never split across two reads, so a 32-bit value always comes from one reply.

use crate::profile::{Profile, RegisterKind};

/// One read request and the points it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub register: RegisterKind,
    /// First PDU address.
    pub start: u16,
    /// Registers or bits to read, 1..=125 (2000 for bits).
    pub count: u16,
    /// Indices into the profile's points.
    pub points: Vec<usize>,
}

impl ReadRequest {
    /// Offset of a point's first register inside this read's reply.
    pub fn offset_of(&self, pdu_address: u16) -> usize {
        usize::from(pdu_address - self.start)
    }
}

/// Plans the reads for all points of a profile, in table then address order.
pub fn plan(profile: &Profile) -> Vec<ReadRequest> {
    plan_points(profile, &(0..profile.points.len()).collect::<Vec<_>>())
}

/// Plans the reads for a subset of a profile's points (`indices` into `profile.points`).
pub fn plan_points(profile: &Profile, indices: &[usize]) -> Vec<ReadRequest> {
    let mut order: Vec<usize> = indices.to_vec();
    order.sort_by_key(|&i| {
        let p = &profile.points[i];
        (p.register, p.pdu_address, p.count)
    });
    let gap = u32::from(profile.max_gap);
    let mut out: Vec<ReadRequest> = Vec::new();
    for i in order {
        let p = &profile.points[i];
        let start = u32::from(p.pdu_address);
        let end = start + u32::from(p.count); // exclusive; <= 65536 (checked at load)
        if let Some(cur) = out.last_mut() {
            let cur_start = u32::from(cur.start);
            let cur_end = cur_start + u32::from(cur.count);
            let max = u32::from(cur.register.max_per_read());
            if cur.register == p.register
                && start <= cur_end + gap
                && end.max(cur_end) - cur_start <= max
            {
                cur.count = (end.max(cur_end) - cur_start) as u16;
                cur.points.push(i);
                continue;
            }
        }
        out.push(ReadRequest {
            register: p.register,
            start: p.pdu_address,
            count: p.count,
            points: vec![i],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;
    use std::path::Path;

    fn profile(points: &str, max_gap: u16) -> Profile {
        let text = format!(
            "manufacturer = \"t\"\nmodel = \"t\"\nsource = \"test\"\naddress_base = 0\nmax_gap = {max_gap}\n{points}"
        );
        Profile::parse("t", Path::new("t.toml"), &text).unwrap()
    }

    fn pt(name: &str, reg: &str, addr: u32, ty: &str) -> String {
        format!(
            "[[points]]\nname = \"{name}\"\nregister = \"{reg}\"\naddress = {addr}\ntype = \"{ty}\"\n"
        )
    }

    #[test]
    fn merges_close_points_and_splits_far_ones() {
        let p = profile(
            &[
                pt("a", "input", 0, "f32"),
                pt("b", "input", 2, "f32"),
                pt("c", "input", 10, "f32"),
                pt("d", "input", 100, "f32"),
                pt("e", "holding", 0, "u16"),
            ]
            .concat(),
            8,
        );
        let r = plan(&p);
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].register, r[0].start, r[0].count),
            (RegisterKind::Holding, 0, 1)
        );
        assert_eq!((r[1].start, r[1].count, r[1].points.len()), (0, 12, 3));
        assert_eq!((r[2].start, r[2].count), (100, 2));
    }

    #[test]
    fn never_exceeds_125_registers_or_splits_a_value() {
        let pts: String = (0..70)
            .map(|i| pt(&format!("p{i}"), "holding", i * 2, "f32"))
            .collect();
        let r = plan(&profile(&pts, 8));
        assert!(r.iter().all(|q| q.count <= 125));
        // 124 registers fit (62 floats); the 63rd float would make 126.
        assert_eq!(r[0].count, 124);
        assert_eq!(r[1].start, 124);
        for q in &r {
            assert_eq!(q.count as usize, q.points.len() * 2);
        }
    }

    #[test]
    fn bits_merge_up_to_2000() {
        let pts: String = (0..3)
            .map(|i| pt(&format!("c{i}"), "coil", i * 1999, "bool"))
            .collect();
        let r = plan(&profile(&pts, 2000));
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].start, r[0].count), (0, 2000));
        assert_eq!((r[1].start, r[1].count), (3998, 1));
    }

    #[test]
    fn top_of_address_space_does_not_wrap() {
        let p = profile(
            &[
                pt("a", "holding", 65534, "u16"),
                pt("b", "holding", 65535, "u16"),
            ]
            .concat(),
            0,
        );
        let r = plan(&p);
        assert_eq!((r[0].start, r[0].count), (65534, 2));
        let bad = Profile::parse(
            "t",
            Path::new("t.toml"),
            "manufacturer=\"t\"\nmodel=\"t\"\nsource=\"s\"\naddress_base=0\n[[points]]\nname=\"x\"\nregister=\"holding\"\naddress=65535\ntype=\"f32\"\n",
        );
        assert!(bad.unwrap_err().to_string().contains("runs past 65535"));
    }

    #[test]
    fn zero_gap_reads_only_contiguous() {
        let p = profile(
            &[pt("a", "holding", 0, "u16"), pt("b", "holding", 2, "u16")].concat(),
            0,
        );
        assert_eq!(plan(&p).len(), 2);
        let p = profile(
            &[pt("a", "holding", 0, "u16"), pt("b", "holding", 1, "u16")].concat(),
            0,
        );
        assert_eq!(plan(&p).len(), 1);
    }
}
