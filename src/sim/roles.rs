//! How a simulated device's points get their values from its site's signals, by the point
//! names the profiles in `plc-profiles/` use. A point no role knows reads 0 unless the
//! unit's `fixed` table gives it a value.

use super::physics::{Signals, wobble};
use serde::Deserialize;

/// What a simulated unit is in its site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A pump's variable-frequency drive (`index` = pump number).
    PumpDrive,
    /// An energy meter or power analyser on the site's incomer, or on feeder `index`.
    PowerMeter,
    /// A water flow meter with totaliser.
    FlowMeter,
    /// A pressure transmitter on the discharge header.
    Pressure,
    /// A level transmitter (reservoir or borehole water column).
    Level,
    /// A feeder's circuit breaker (`index` = feeder number).
    Breaker,
    /// Remote I/O wired to feeder 1 and 2 breaker contacts.
    Io,
    /// Only the unit's `fixed` values (tests).
    Fixed,
    /// No site: every point follows its own slow sine wave (benchmarks, `benches/`), see
    /// [`wave`]. Needs no `[[sites]]` entry and costs no physics.
    Wave,
}

/// Period of [`Role::Wave`]'s sine, in seconds.
pub const WAVE_PERIOD_S: f64 = 60.0;

/// The value of a [`Role::Wave`] point at time `t` (s): 500 ± 400 on a 60 s sine whose
/// phase comes from the unit id and the point's PDU address, so neighbouring points and
/// units differ. The range fits every numeric type unscaled (u16 to f64).
pub fn wave(unit_id: u8, pdu_address: u16, t: f64) -> f64 {
    let phase = f64::from(unit_id) * 0.7 + f64::from(pdu_address) * 0.3;
    500.0 + 400.0 * (std::f64::consts::TAU * t / WAVE_PERIOD_S + phase).sin()
}

fn get(s: &Signals, k: &str) -> f64 {
    s.get(k).copied().unwrap_or(0.0)
}

/// The value of point `name` of a unit with `role` and `index`, at time `t` (s).
pub fn value(role: Role, index: u32, name: &str, s: &Signals, t: f64) -> Option<f64> {
    match role {
        Role::PumpDrive => {
            let p = |k: &str| get(s, &format!("pump{index}.{k}"));
            Some(match name {
                "motor_speed_rpm" => p("speed_rpm"),
                "output_frequency_hz" => p("frequency_hz"),
                "motor_current_a" => p("current_a"),
                "output_power_kw" => p("power_kw"),
                "dc_voltage_v" => p("dc_voltage_v"),
                "motor_voltage_v" => 400.0 * p("frequency_hz") / 50.0,
                "running" | "at_setpoint" => p("running"),
                "tripped" => p("tripped"),
                "fault_code" | "alarm_code" => p("fault_code"),
                "remote" | "auto_mode" => 1.0,
                "status_word" => 0b11.into(), // ready to switch on / ready to run; other bits from bool points
                // ABB ACT1: 20000 = the speed scaling of parameter 46.01.
                "actual_1" => (p("speed_rpm") / p("speed_scaling_rpm").max(1.0) * 20000.0).round(),
                "heatsink_temperature_c" => 38.0 + 10.0 * p("running"),
                _ => return None,
            })
        }
        Role::PowerMeter => {
            let kw = if index > 0 {
                get(s, &format!("feeder{index}.load_kw"))
            } else {
                get(s, "total_power_kw")
            };
            let p_w = kw * 1000.0;
            let pf = 0.93;
            let v = 231.0 + wobble(t, 37.0, 1.2);
            let i = p_w / 3.0 / (v * pf);
            let apparent = p_w / pf;
            Some(match name {
                "voltage_l1_v" | "voltage_l2_v" | "voltage_l3_v" => v,
                "voltage_l1_l2_v" | "voltage_l2_l3_v" | "voltage_l3_l1_v" => v * 3f64.sqrt(),
                "current_l1_a" | "current_l2_a" | "current_l3_a" => i,
                "active_power_l1_w" | "active_power_l2_w" | "active_power_l3_w" => p_w / 3.0,
                "power_factor_l1" | "power_factor_l2" | "power_factor_l3"
                | "total_power_factor" => pf,
                "total_active_power_w" | "total_power_demand_w" => p_w,
                "total_apparent_power_va" => apparent,
                "total_reactive_power_var" => (apparent * apparent - p_w * p_w).sqrt(),
                "frequency_hz" => 50.0 + wobble(t, 61.0, 0.03),
                n if n.starts_with("import_energy") || n == "total_energy_kwh" => {
                    get(s, "energy_kwh").floor()
                }
                n if n.starts_with("export_energy") => 0.0,
                _ => return None,
            })
        }
        Role::FlowMeter => {
            let q = get(s, "flow_m3_per_h");
            Some(match name {
                "flow_m3_per_h" => q,
                "flow_velocity_mm_per_s" => q / 3600.0 / 0.0314 * 1000.0, // DN200 pipe
                "flow_pct_of_qn" => q / 250.0 * 100.0,
                "totaliser_1_m3" | "totaliser_2_m3" => get(s, "volume_m3").floor(),
                "battery_pct" => 87.0,
                "power_status" => 1.0,
                _ => return None,
            })
        }
        Role::Pressure => match name {
            "pressure_bar" => Some(get(s, "discharge_pressure_bar")),
            "temperature_c" => Some(get(s, "water_temperature_c")),
            _ => None,
        },
        Role::Level => match name {
            "level_m" => Some(get(s, "level_m")),
            "temperature_c" => Some(get(s, "water_temperature_c")),
            _ => None,
        },
        Role::Breaker => {
            let f = |k: &str| get(s, &format!("feeder{index}.{k}"));
            Some(match name {
                "breaker_closed" => f("closed"),
                "breaker_tripped" | "electrical_fault_trip" => f("tripped"),
                "frequency_hz" => 50.0 + wobble(t, 61.0, 0.03),
                "motor_mechanism_available" | "motor_mechanism_auto" => 1.0,
                _ => return None,
            })
        }
        Role::Io => Some(match name {
            "di_0" => get(s, "feeder1.closed"),
            "di_1" => get(s, "feeder1.tripped"),
            "di_2" => get(s, "feeder2.closed"),
            "di_3" => get(s, "feeder2.tripped"),
            _ => return None,
        }),
        Role::Fixed | Role::Wave => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wave_stays_in_its_range_and_differs_between_units_and_points() {
        for k in 0..600 {
            let t = f64::from(k) * 0.1;
            let v = wave(7, 2, t);
            assert!((100.0..=900.0).contains(&v), "{v} at {t} s");
        }
        assert_ne!(wave(1, 0, 10.0), wave(2, 0, 10.0));
        assert_ne!(wave(1, 0, 10.0), wave(1, 2, 10.0));
        assert_ne!(wave(1, 0, 10.0), wave(1, 0, 11.0));
    }
}
