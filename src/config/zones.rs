//! `[[zones]]` beyond their id: the area a zone covers (a GeoJSON polygon, for the CRM's
//! "is there an outage where this customer lives?") and the points that measure a water
//! zone's inflow (for its minimum night flow).
//!
//! Coordinates follow GeoJSON (RFC 7946 §3.1.1): `[longitude, latitude]` in WGS 84 decimal
//! degrees, longitude first.

use geo::MultiPolygon;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One point that measures water entering (or leaving) a zone: a flow meter at a feeding
/// site. Its profile point's `unit` must be a flow rate ([`to_m3_per_h`]); the night-flow
/// stage converts it to m³/h.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowPoint {
    pub site: String,
    pub device: String,
    pub point: String,
    /// `in` (default) adds the flow to the zone's inflow; `out` subtracts it (water passed
    /// on to a neighbouring zone).
    #[serde(default)]
    pub direction: FlowDirection,
}

/// The factor that turns a flow in `unit` (a profile point's `unit`) into m³/h; None when
/// `unit` is not a flow rate vigie knows (a totaliser's `m3`, a velocity's `mm/s`, `%`).
///
/// Spellings: case and spaces ignored, `³` read as `3`, `l` as `L`; `m3/h` (the profiles'
/// spelling, e.g. `siemens-mag8000.toml`) and `m3/hr` are 1; `l/s` 3.6 (3600 s/h ÷ 1000 L/m³),
/// `l/min` 0.06, `m3/s` 3600, `m3/min` 60.
pub fn to_m3_per_h(unit: &str) -> Option<f64> {
    let u: String = unit
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '³' { '3' } else { c })
        .collect::<String>()
        .to_lowercase();
    match u.as_str() {
        "m3/h" | "m3/hr" | "m3h" => Some(1.0),
        "l/s" | "ls" => Some(3.6),
        "l/min" => Some(0.06),
        "m3/s" => Some(3600.0),
        "m3/min" => Some(60.0),
        _ => None,
    }
}

/// Whether a [`FlowPoint`] adds to or subtracts from the zone's inflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowDirection {
    #[default]
    In,
    Out,
}

/// Reads a zone's area: `area` (a GeoJSON geometry written inline) or `area_file` (a GeoJSON
/// file holding a Geometry, a Feature or a FeatureCollection; every polygon in it counts).
/// Only `Polygon` and `MultiPolygon` geometries are accepted.
///
/// Errors: the file cannot be read or parsed, a geometry is not a polygon, a ring is not
/// closed or has fewer than 4 positions, a coordinate is out of range.
pub fn read_area(
    inline: Option<&geojson::Geometry>,
    file: Option<&Path>,
) -> Result<Option<MultiPolygon<f64>>, String> {
    let geometries: Vec<geojson::Geometry> = match (inline, file) {
        (Some(_), Some(_)) => return Err("set `area` or `area_file`, not both".into()),
        (None, None) => return Ok(None),
        (Some(g), None) => vec![g.clone()],
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let doc: geojson::GeoJson = text
                .parse()
                .map_err(|e| format!("{} is not GeoJSON: {e}", path.display()))?;
            match doc {
                geojson::GeoJson::Geometry(g) => vec![g],
                geojson::GeoJson::Feature(f) => f.geometry.into_iter().collect(),
                geojson::GeoJson::FeatureCollection(c) => {
                    c.features.into_iter().filter_map(|f| f.geometry).collect()
                }
            }
        }
    };
    let mut polygons = Vec::new();
    for g in &geometries {
        check_rings(&g.value)?;
        match geo::Geometry::<f64>::try_from(&g.value) {
            Ok(geo::Geometry::Polygon(p)) => polygons.push(p),
            Ok(geo::Geometry::MultiPolygon(m)) => polygons.extend(m.0),
            Ok(_) => {
                return Err(format!(
                    "a zone's area must be a Polygon or a MultiPolygon, not a {}",
                    g.value.type_name()
                ));
            }
            Err(e) => return Err(format!("invalid geometry: {e}")),
        }
    }
    if polygons.is_empty() {
        return Err("the area holds no polygon".into());
    }
    Ok(Some(MultiPolygon(polygons)))
}

/// Rings closed with at least 4 positions, longitudes in [-180, 180] and latitudes in
/// [-90, 90] (RFC 7946 §3.1.6 and §4).
fn check_rings(g: &geojson::GeometryValue) -> Result<(), String> {
    use geojson::GeometryValue as G;
    let polygons: Vec<&Vec<Vec<geojson::Position>>> = match g {
        G::Polygon { coordinates } => vec![coordinates],
        G::MultiPolygon { coordinates } => coordinates.iter().collect(),
        _ => return Ok(()), // refused by the caller, with its type
    };
    for rings in polygons {
        for ring in rings {
            if ring.len() < 4 || ring.first() != ring.last() {
                return Err(
                    "each ring needs at least 4 positions, the last equal to the first".into(),
                );
            }
            for p in ring {
                let (Some(&lon), Some(&lat)) = (p.as_slice().first(), p.as_slice().get(1)) else {
                    return Err("a position needs [longitude, latitude]".into());
                };
                if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
                    return Err(format!(
                        "position [{lon}, {lat}] is out of range: GeoJSON writes [longitude, latitude] in degrees"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Checks the zones' areas and inflow points; fills each zone's `resolved_area`. Returns
/// `(key, message)` for each problem.
pub fn validate(
    config: &mut super::Config,
    profiles: &std::collections::HashMap<String, std::sync::Arc<crate::profile::Profile>>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let sites = config.sites.clone();
    for (i, z) in config.zones.iter_mut().enumerate() {
        let file: Option<PathBuf> = z.area_file.clone();
        match read_area(z.area.as_ref(), file.as_deref()) {
            Ok(a) => z.resolved_area = a,
            Err(m) => {
                let key = if z.area_file.is_some() && z.area.is_none() {
                    "area_file"
                } else {
                    "area"
                };
                out.push((format!("zones[{i}].{key}"), m));
            }
        }
        if !z.inflow.is_empty() && z.utility != super::Utility::Water {
            out.push((
                format!("zones[{i}].inflow"),
                "inflow (for minimum night flow) is for water zones".into(),
            ));
        }
        for (k, f) in z.inflow.iter().enumerate() {
            let key = format!("zones[{i}].inflow[{k}]");
            let Some(site) = sites.iter().find(|s| s.id == f.site) else {
                out.push((key, format!("no site with id {:?}", f.site)));
                continue;
            };
            let Some(dev) = site.devices.iter().find(|d| d.id == f.device) else {
                out.push((
                    key,
                    format!("no device {:?} in site {:?}", f.device, f.site),
                ));
                continue;
            };
            let Some(profile) = profiles.get(&dev.profile) else {
                continue; // the profile's own error is reported
            };
            match profile.points.iter().find(|p| p.name == f.point) {
                None => out.push((
                    key,
                    format!("profile {:?} has no point {:?}", dev.profile, f.point),
                )),
                Some(p)
                    if matches!(
                        p.data_type,
                        crate::profile::DataType::Bool | crate::profile::DataType::String
                    ) =>
                {
                    out.push((
                        key,
                        format!("point {:?} is not a number: it cannot be a flow", f.point),
                    ))
                }
                Some(p) if to_m3_per_h(&p.unit).is_none() => out.push((
                    key,
                    format!(
                        "point {:?} of profile {:?} has unit {:?}, not a flow rate: an inflow \
                         point needs m3/h (or l/s, l/min, m3/s, m3/min, converted); a \
                         totaliser (m3) or a velocity cannot be summed as a flow",
                        f.point, dev.profile, p.unit
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_m3_per_h;

    #[test]
    fn flow_units_convert_to_m3_per_h_and_others_are_refused() {
        for (unit, factor) in [
            ("m3/h", Some(1.0)),
            ("m³/h", Some(1.0)),
            ("M3/H", Some(1.0)),
            ("l/s", Some(3.6)),
            ("L/s", Some(3.6)),
            ("l/min", Some(0.06)),
            ("m3/s", Some(3600.0)),
            ("m3", None),
            ("mm/s", None),
            ("%", None),
            ("", None),
        ] {
            assert_eq!(to_m3_per_h(unit), factor, "{unit:?}");
        }
    }
}
