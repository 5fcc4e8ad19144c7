//! Plausible physics for simulated sites, as closed-form functions of time so that any
//! moment can be computed without state: diurnal water demand with morning and evening
//! peaks drives the pumps, discharge pressure, flow and reservoir level; a substation's load
//! follows a daily curve; a borehole pump stops during the evening peak-tariff hours.
//! Scripted faults change these values (a burst, a feeder trip, a pump trip).

use std::collections::HashMap;
use std::f64::consts::PI;

/// Relative demand over a day (0..1.4), peaks at 07:30 and 19:30, trough at 03:30 —
/// the usual shape of a residential DMA's inflow.
pub fn diurnal(seconds_of_day: f64) -> f64 {
    let h = seconds_of_day / 3600.0;
    let peak = |centre: f64, width: f64| (-((h - centre) / width).powi(2)).exp();
    0.35 + 0.75 * peak(7.5, 1.8) + 0.6 * peak(19.5, 2.2) + 0.25 * peak(13.0, 3.0)
}

/// Small deterministic wobble (±amplitude) so values move like real measurements.
pub fn wobble(t: f64, period_s: f64, amplitude: f64) -> f64 {
    amplitude
        * ((2.0 * PI * t / period_s).sin() * 0.7 + (2.0 * PI * t / (period_s * 0.37)).sin() * 0.3)
}

/// Hours since 2026-01-01T00:00Z: the counters' (energy, volume) reference, so they start
/// from plausible totals and only grow.
fn hours_in_service(t: f64) -> f64 {
    ((t - 1_767_225_600.0) / 3600.0).max(0.0)
}

/// Active faults at one moment, as the site models see them.
#[derive(Debug, Clone, Default)]
pub struct ActiveFaults {
    /// A pipe burst downstream of the pumping station: pressure drops, flow rises.
    pub burst: bool,
    /// Tripped feeders (1-based).
    pub tripped_feeders: Vec<u32>,
    /// Tripped pumps (1-based).
    pub tripped_pumps: Vec<u32>,
}

/// The values of one site at one moment, by signal name (`pump1.speed_rpm`, `flow_m3_per_h`…).
pub type Signals = HashMap<String, f64>;

/// A pumping station with `pumps` drives, discharge pressure, flow and reservoir level.
pub fn pumping_station(t: f64, seconds_of_day: f64, pumps: u32, f: &ActiveFaults) -> Signals {
    let mut s = Signals::new();
    let demand = 140.0 * diurnal(seconds_of_day) + wobble(t, 47.0, 3.0);
    let burst_flow = if f.burst { 160.0 } else { 0.0 };
    let flow = (demand + burst_flow).max(0.0);
    let per_pump_capacity = 110.0;
    let available: Vec<u32> = (1..=pumps)
        .filter(|p| !f.tripped_pumps.contains(p))
        .collect();
    let needed = ((flow / per_pump_capacity).ceil() as usize).clamp(1, available.len().max(1));
    let running: Vec<u32> = available.iter().copied().take(needed).collect();
    let share = if running.is_empty() {
        0.0
    } else {
        flow / running.len() as f64
    };
    for p in 1..=pumps {
        let on = running.contains(&p);
        let tripped = f.tripped_pumps.contains(&p);
        let load = if on {
            (share / per_pump_capacity).clamp(0.2, 1.0)
        } else {
            0.0
        };
        let speed = if on {
            900.0 + 585.0 * load + wobble(t + f64::from(p), 13.0, 4.0)
        } else {
            0.0
        };
        let power = if on {
            4.0 + 33.0 * load.powi(3) + wobble(t, 11.0, 0.3)
        } else {
            0.0
        };
        s.insert(format!("pump{p}.running"), f64::from(u8::from(on)));
        s.insert(format!("pump{p}.tripped"), f64::from(u8::from(tripped)));
        s.insert(format!("pump{p}.speed_rpm"), speed);
        s.insert(format!("pump{p}.frequency_hz"), speed / 1485.0 * 50.0);
        s.insert(format!("pump{p}.power_kw"), power);
        s.insert(
            format!("pump{p}.current_a"),
            if on {
                power * 1000.0 / (1.732 * 400.0 * 0.86)
            } else {
                0.0
            },
        );
        s.insert(format!("pump{p}.dc_voltage_v"), 540.0 + wobble(t, 7.0, 1.5));
        s.insert(format!("pump{p}.speed_scaling_rpm"), 1500.0); // 4-pole motor
        s.insert(
            format!("pump{p}.fault_code"),
            if tripped { f64::from(0x2310) } else { 0.0 },
        );
    }
    // System curve: static head 3.2 bar plus friction; a burst pulls pressure down hard.
    let pressure = if running.is_empty() {
        0.4
    } else {
        3.2 + 1.6 * (demand / 240.0).powi(2) - if f.burst { 2.3 } else { 0.0 }
    };
    s.insert(
        "discharge_pressure_bar".into(),
        pressure.max(0.2) + wobble(t, 9.0, 0.02),
    );
    s.insert("flow_m3_per_h".into(), flow);
    // Reservoir: fills at night, draws down through the day (closed form of the daily balance).
    let level = 3.1 + 1.2 * (2.0 * PI * (seconds_of_day / 86400.0 - 0.05)).cos()
        - if f.burst { 0.4 } else { 0.0 };
    s.insert("level_m".into(), level + wobble(t, 31.0, 0.01));
    s.insert("water_temperature_c".into(), 14.0 + wobble(t, 600.0, 0.2));
    s.insert(
        "total_power_kw".into(),
        5.0 + (1..=pumps)
            .map(|p| s[&format!("pump{p}.power_kw")])
            .sum::<f64>(),
    );
    s.insert("energy_kwh".into(), 250_000.0 + hours_in_service(t) * 55.0);
    s.insert(
        "volume_m3".into(),
        1_200_000.0 + hours_in_service(t) * 140.0 * 0.75,
    );
    s
}

/// An MV/LV substation with an incomer and `feeders` outgoing LV feeders.
pub fn substation(t: f64, seconds_of_day: f64, feeders: u32, f: &ActiveFaults) -> Signals {
    let mut s = Signals::new();
    let mut total = 0.0;
    for k in 1..=feeders {
        let tripped = f.tripped_feeders.contains(&k);
        let load = if tripped {
            0.0
        } else {
            160.0 * (0.45 + 0.45 * diurnal(seconds_of_day + 3600.0 * f64::from(k)))
                + wobble(t + f64::from(k), 23.0, 2.0)
        };
        total += load;
        s.insert(format!("feeder{k}.closed"), f64::from(u8::from(!tripped)));
        s.insert(format!("feeder{k}.tripped"), f64::from(u8::from(tripped)));
        s.insert(format!("feeder{k}.load_kw"), load);
    }
    s.insert("total_power_kw".into(), total + 4.0);
    s.insert(
        "energy_kwh".into(),
        1_800_000.0 + hours_in_service(t) * 260.0,
    );
    s
}

/// A borehole pump that stops during the evening peak tariff (17:00-21:00).
pub fn borehole(t: f64, seconds_of_day: f64, f: &ActiveFaults) -> Signals {
    let mut s = Signals::new();
    let h = seconds_of_day / 3600.0;
    let tripped = f.tripped_pumps.contains(&1);
    let on = !(17.0..21.0).contains(&h) && !tripped;
    let speed = if on {
        2900.0 + wobble(t, 17.0, 5.0)
    } else {
        0.0
    };
    let power = if on { 18.5 + wobble(t, 19.0, 0.2) } else { 0.0 };
    s.insert("pump1.running".into(), f64::from(u8::from(on)));
    s.insert("pump1.tripped".into(), f64::from(u8::from(tripped)));
    s.insert("pump1.speed_rpm".into(), speed);
    s.insert("pump1.frequency_hz".into(), speed / 2900.0 * 50.0);
    s.insert("pump1.power_kw".into(), power);
    s.insert(
        "pump1.current_a".into(),
        if on {
            power * 1000.0 / (1.732 * 400.0 * 0.88)
        } else {
            0.0
        },
    );
    s.insert("pump1.dc_voltage_v".into(), 540.0 + wobble(t, 7.0, 1.5));
    s.insert("pump1.speed_scaling_rpm".into(), 3000.0); // 2-pole submersible motor
    s.insert(
        "pump1.fault_code".into(),
        if tripped { f64::from(0x2310) } else { 0.0 },
    );
    s.insert(
        "flow_m3_per_h".into(),
        if on { 42.0 + wobble(t, 29.0, 0.5) } else { 0.0 },
    );
    // Water column above the submerged sensor: 18 m at rest, 11 m while pumping (drawdown).
    s.insert(
        "level_m".into(),
        if on { 11.0 } else { 18.0 } + wobble(t, 41.0, 0.05),
    );
    s.insert(
        "discharge_pressure_bar".into(),
        if on { 6.1 } else { 0.3 } + wobble(t, 9.0, 0.02),
    );
    s.insert("water_temperature_c".into(), 17.5 + wobble(t, 900.0, 0.1));
    s.insert("total_power_kw".into(), power + 0.6);
    s.insert("energy_kwh".into(), 90_000.0 + hours_in_service(t) * 15.0);
    s.insert("volume_m3".into(), 400_000.0 + hours_in_service(t) * 35.0);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_peaks_in_the_morning_and_bottoms_at_night() {
        assert!(diurnal(7.5 * 3600.0) > 1.0);
        assert!(diurnal(3.5 * 3600.0) < 0.4);
    }

    #[test]
    fn a_burst_drops_pressure_and_raises_flow() {
        let normal = pumping_station(1000.0, 36000.0, 3, &ActiveFaults::default());
        let burst = pumping_station(
            1000.0,
            36000.0,
            3,
            &ActiveFaults {
                burst: true,
                ..Default::default()
            },
        );
        assert!(burst["discharge_pressure_bar"] < normal["discharge_pressure_bar"] - 2.0);
        assert!(burst["flow_m3_per_h"] > normal["flow_m3_per_h"] + 100.0);
    }

    #[test]
    fn a_feeder_trip_drops_its_load() {
        let f = ActiveFaults {
            tripped_feeders: vec![2],
            ..Default::default()
        };
        let s = substation(0.0, 43200.0, 2, &f);
        assert_eq!(s["feeder2.load_kw"], 0.0);
        assert_eq!(s["feeder2.tripped"], 1.0);
        assert_eq!(s["feeder1.closed"], 1.0);
    }
}
