//! `[[zones]]` beyond their id: the area a zone covers (a GeoJSON polygon, for the CRM's
//! "is there an outage where this customer lives?") and the points that measure a water
//! zone's inflow (for its minimum night flow).
//!
//! Coordinates follow GeoJSON (RFC 7946 §3.1.1): `[longitude, latitude]` in WGS 84 decimal
//! degrees, longitude first.

use geo::MultiPolygon;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One point that measures water entering (or leaving) a zone, in m³/h: a flow meter at a
/// feeding site.
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
                Some(_) => {}
            }
        }
    }
    out
}
