//! The flat, indexed view of the network every later stage shares: sites, devices and
//! points by index, so a sample carries a 4-byte [`PointId`] instead of three strings.

use super::{Network, SiteKind};
use crate::profile::{Point, Profile};
use crate::sample::{DeviceId, PointId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A site, as configured.
#[derive(Debug, Clone)]
pub struct SiteInfo {
    pub id: String,
    pub name: String,
    pub kind: SiteKind,
}

/// A device with its place in the catalog.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub id: String,
    /// Index into [`Catalog::sites`].
    pub site: usize,
    pub profile: Arc<Profile>,
    /// `host:port` (devices with the same address share one connection).
    pub address: String,
    pub unit_id: u8,
    pub poll_interval: Duration,
    pub timeout: Duration,
    /// Its points are `first_point .. first_point + profile.points.len()`.
    pub first_point: u32,
}

impl DeviceInfo {
    /// The catalog id of the profile's `i`-th point.
    pub fn point_id(&self, i: usize) -> PointId {
        PointId(self.first_point + i as u32)
    }
}

/// Every site, device and point, by index.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub sites: Vec<SiteInfo>,
    pub devices: Vec<DeviceInfo>,
    /// For each point, its device.
    point_device: Vec<DeviceId>,
    /// Each device by site id and device id; its points are found in its profile's order.
    by_name: HashMap<(String, String), DeviceId>,
}

impl Catalog {
    /// Builds the catalog from a validated network.
    pub fn new(network: &Network) -> Catalog {
        let mut c = Catalog::default();
        for s in &network.config.sites {
            let site = c.sites.len();
            c.sites.push(SiteInfo {
                id: s.id.clone(),
                name: s.name.clone(),
                kind: s.kind,
            });
            for d in &s.devices {
                let Some(profile) = network.profiles.get(&d.profile) else {
                    continue;
                };
                let device = DeviceId(c.devices.len() as u32);
                let first_point = c.point_device.len() as u32;
                c.point_device
                    .extend(std::iter::repeat_n(device, profile.points.len()));
                c.by_name.insert((s.id.clone(), d.id.clone()), device);
                c.devices.push(DeviceInfo {
                    id: d.id.clone(),
                    site,
                    profile: profile.clone(),
                    address: d.address.clone(),
                    unit_id: d.unit_id,
                    poll_interval: d.poll_interval,
                    timeout: d.timeout,
                    first_point,
                });
            }
        }
        c
    }

    /// Number of points.
    pub fn point_count(&self) -> usize {
        self.point_device.len()
    }

    /// The device id of a point.
    pub fn device_id_of(&self, p: PointId) -> DeviceId {
        self.point_device[p.0 as usize]
    }

    /// The device of a point.
    pub fn device_of(&self, p: PointId) -> &DeviceInfo {
        &self.devices[self.point_device[p.0 as usize].0 as usize]
    }

    /// A device by id.
    pub fn device(&self, d: DeviceId) -> &DeviceInfo {
        &self.devices[d.0 as usize]
    }

    /// The site of a device.
    pub fn site_of(&self, d: &DeviceInfo) -> &SiteInfo {
        &self.sites[d.site]
    }

    /// The profile point behind a point id.
    pub fn point(&self, p: PointId) -> &Point {
        let d = self.device_of(p);
        &d.profile.points[(p.0 - d.first_point) as usize]
    }

    /// Looks a point up by site, device and point name.
    /// (Point names are unique in a profile: `profile` refuses a duplicate.)
    pub fn find(&self, site: &str, device: &str, point: &str) -> Option<PointId> {
        let id = *self.by_name.get(&(site.to_string(), device.to_string()))?;
        let d = &self.devices[id.0 as usize];
        let index = d.profile.points.iter().position(|p| p.name == point)?;
        Some(PointId(d.first_point + index as u32))
    }

    /// Devices grouped by `host:port`, in first-seen order: one connection each.
    pub fn connections(&self) -> Vec<(String, Vec<DeviceId>)> {
        let mut order: Vec<(String, Vec<DeviceId>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, d) in self.devices.iter().enumerate() {
            let k = *index.entry(d.address.as_str()).or_insert_with(|| {
                order.push((d.address.clone(), Vec::new()));
                order.len() - 1
            });
            order[k].1.push(DeviceId(i as u32));
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Two sites, devices of three profiles, two of them behind one gateway.
    const CONFIG: &str = r#"
[[sites]]
id = "PS-01"
kind = "pumping_station"
devices = [
  { id = "PT-101", profile = "keller-series30", address = "127.0.0.1:5020", unit_id = 1 },
  { id = "VFD-1", profile = "danfoss-fc202", address = "127.0.0.1:5020", unit_id = 2 },
]
[[sites]]
id = "SS-07"
kind = "substation"
devices = [
  { id = "PT-101", profile = "eastron-sdm630", address = "127.0.0.1:5021", unit_id = 1 },
]
"#;

    #[test]
    fn find_gives_every_point_its_catalog_id_and_none_for_unknown_names() {
        let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
        let net = crate::config::check::from_text(Path::new("t.toml"), CONFIG, Some(&profiles))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let c = Catalog::new(&net);
        let mut seen = 0;
        for (d, info) in c.devices.iter().enumerate() {
            let site = &c.sites[info.site].id;
            for (i, p) in info.profile.points.iter().enumerate() {
                let id = c.find(site, &info.id, &p.name);
                assert_eq!(id, Some(info.point_id(i)), "{site}/{}/{}", info.id, p.name);
                assert_eq!(c.device_id_of(info.point_id(i)), DeviceId(d as u32));
                seen += 1;
            }
        }
        assert_eq!(seen, c.point_count());
        // The same device id on two sites: each site's own points.
        let pt_ps = c.find("PS-01", "PT-101", "pressure_bar");
        assert!(pt_ps.is_some());
        assert_eq!(c.find("SS-07", "PT-101", "pressure_bar"), None);
        assert_eq!(c.find("PS-01", "PT-101", "no_such_point"), None);
        assert_eq!(c.find("PS-01", "NO-SUCH", "pressure_bar"), None);
        assert_eq!(c.find("NO-SUCH", "PT-101", "pressure_bar"), None);
    }
}
