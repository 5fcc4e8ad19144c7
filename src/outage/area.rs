//! Zones' areas: which zones cover a coordinate (the CRM's "is there an outage at this
//! customer's address?"), and outages as a GeoJSON FeatureCollection (RFC 7946) for an
//! outage map. Point-in-polygon is the `geo` crate's `Intersects`, so a point on a zone's
//! boundary belongs to the zone (two neighbours on a shared edge both answer).

use super::Outage;
use crate::config::ZoneConfig;
use geo::{Intersects, MultiPolygon, Point};

/// The ids of the zones whose area holds the point (`lon`, `lat` in WGS 84 degrees), in
/// configuration order. Zones without an area never match.
pub fn zones_at(zones: &[ZoneConfig], lon: f64, lat: f64) -> Vec<String> {
    let p = Point::new(lon, lat);
    zones
        .iter()
        .filter(|z| z.resolved_area.as_ref().is_some_and(|a| a.intersects(&p)))
        .map(|z| z.id.clone())
        .collect()
}

/// The outages as features: each one's geometry is the union of its zones' areas (a
/// MultiPolygon; null when none of its zones has an area), its properties the outage as
/// the API serves it.
pub fn feature_collection(outages: &[Outage], zones: &[ZoneConfig]) -> geojson::FeatureCollection {
    let features = outages
        .iter()
        .map(|o| {
            let polygons: Vec<_> = o
                .zones
                .iter()
                .filter_map(|id| zones.iter().find(|z| &z.id == id))
                .filter_map(|z| z.resolved_area.as_ref())
                .flat_map(|a| a.0.iter().cloned())
                .collect();
            let geometry =
                (!polygons.is_empty()).then(|| geojson::Geometry::from(&MultiPolygon(polygons)));
            let properties = match o.to_json() {
                serde_json::Value::Object(m) => Some(m),
                _ => None,
            };
            geojson::Feature {
                bbox: None,
                geometry,
                id: Some(geojson::feature::Id::Number(o.id.into())),
                properties,
                foreign_members: None,
            }
        })
        .collect();
    geojson::FeatureCollection {
        bbox: None,
        features,
        foreign_members: None,
    }
}
