//! The simulator's Modbus TCP servers (tokio-modbus's server side).

use super::roles::{self, Role};
use super::{SimError, World};
use crate::profile::{DataType, Point, Profile, RegisterKind, decode};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

struct Unit {
    profile: Arc<Profile>,
    site: String,
    role: Role,
    index: u32,
    fixed: HashMap<String, toml::Value>,
}

#[derive(Clone)]
struct Service {
    server: Arc<super::SimServer>,
    units: Arc<HashMap<u8, Unit>>,
    world: Arc<World>,
}

/// Running servers; dropping it (or [`RunningSim::stop`]) stops them.
pub struct RunningSim {
    /// (server name, address actually bound), per server, in config order.
    pub addresses: Vec<(String, SocketAddr)>,
    pub world: Arc<World>,
    handles: Vec<JoinHandle<()>>,
}

impl RunningSim {
    /// The bound address of the server named `name`.
    pub fn bound(&self, name: &str) -> Option<SocketAddr> {
        self.addresses
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
    }

    /// Stops every server.
    pub fn stop(&mut self) {
        for h in self.handles.drain(..) {
            h.abort();
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds every server of the world and serves until stopped.
pub async fn start(world: World) -> Result<RunningSim, SimError> {
    let world = Arc::new(world);
    let mut addresses = Vec::new();
    let mut handles = Vec::new();
    for s in &world.config.servers {
        let units: HashMap<u8, Unit> = s
            .units
            .iter()
            .filter_map(|u| {
                let profile = world.profiles.get(&u.profile)?.clone();
                Some((
                    u.unit_id,
                    Unit {
                        profile,
                        site: u.site.clone(),
                        role: u.role,
                        index: u.index,
                        fixed: u.fixed.clone(),
                    },
                ))
            })
            .collect();
        let listener = tokio::net::TcpListener::bind(s.listen)
            .await
            .map_err(|source| SimError::Listen {
                addr: s.listen,
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| SimError::Listen {
            addr: s.listen,
            source,
        })?;
        addresses.push((s.name.clone(), bound));
        let service = Service {
            server: Arc::new(s.clone()),
            units: Arc::new(units),
            world: world.clone(),
        };
        handles.push(tokio::spawn(async move {
            let server = Server::new(listener);
            let on_connected = move |stream, peer| {
                let svc = service.clone();
                async move { accept_tcp_connection(stream, peer, move |_| Ok(Some(svc.clone()))) }
            };
            if let Err(e) = server
                .serve(
                    &on_connected,
                    |e| tracing::debug!(error = %e, "simulator connection ended"),
                )
                .await
            {
                tracing::error!(error = %e, "simulator server stopped");
            }
        }));
    }
    Ok(RunningSim {
        addresses,
        world,
        handles,
    })
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        ready(self.answer(req.slave, &req.request))
    }
}

enum Values {
    Number(f64),
    Text(String),
}

impl Service {
    fn answer(
        &self,
        unit_id: u8,
        request: &Request<'_>,
    ) -> Result<Option<Response>, ExceptionCode> {
        let Some(unit) = self.units.get(&unit_id) else {
            return Ok(None);
        };
        if self.world.silent(&self.server, unit_id) {
            return Ok(None);
        }
        let (kind, start, count) = match *request {
            Request::ReadCoils(a, c) => (RegisterKind::Coil, a, c),
            Request::ReadDiscreteInputs(a, c) => (RegisterKind::Discrete, a, c),
            Request::ReadHoldingRegisters(a, c) => (RegisterKind::Holding, a, c),
            Request::ReadInputRegisters(a, c) => (RegisterKind::Input, a, c),
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        if count == 0 || count > kind.max_per_read() || u32::from(start) + u32::from(count) > 65536
        {
            return Err(ExceptionCode::IllegalDataValue);
        }
        // Fixed and wave units have no site: no physics to compute.
        let signals = match unit.role {
            Role::Fixed | Role::Wave => Default::default(),
            _ => self.world.signals(&unit.site),
        };
        let t = crate::sample::now_ns() as f64 / 1e9;
        let value_of = |p: &Point| -> Values {
            match unit.fixed.get(&p.name) {
                Some(toml::Value::String(s)) => return Values::Text(s.clone()),
                Some(toml::Value::Boolean(b)) => return Values::Number(f64::from(u8::from(*b))),
                Some(toml::Value::Integer(i)) => return Values::Number(*i as f64),
                Some(toml::Value::Float(x)) => return Values::Number(*x),
                _ => {}
            }
            if unit.role == Role::Wave {
                return Values::Number(roles::wave(unit_id, p.pdu_address, t));
            }
            Values::Number(roles::value(unit.role, unit.index, &p.name, &signals, t).unwrap_or(0.0))
        };
        let end = u32::from(start) + u32::from(count);
        let overlapping: Vec<&Point> = unit
            .profile
            .points
            .iter()
            .filter(|p| {
                p.register == kind
                    && u32::from(p.pdu_address) < end
                    && u32::from(p.last_address()) >= u32::from(start)
            })
            .collect();
        if overlapping.is_empty() {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        if kind.is_bit() {
            let mut bits = vec![false; usize::from(count)];
            for p in overlapping {
                if let Values::Number(v) = value_of(p) {
                    bits[usize::from(p.pdu_address - start)] = v != 0.0;
                }
            }
            return Ok(Some(if kind == RegisterKind::Coil {
                Response::ReadCoils(bits)
            } else {
                Response::ReadDiscreteInputs(bits)
            }));
        }
        let mut words = vec![0u16; usize::from(count)];
        let is_bit_point = |p: &Point| {
            p.data_type == DataType::Bool
                || (p.data_type == DataType::Bitfield && (p.bit.is_some() || p.bits.is_some()))
        };
        // Whole values first, then bits OR-ed into their words (a status word and its bits).
        for pass_bits in [false, true] {
            for p in overlapping.iter().filter(|p| is_bit_point(p) == pass_bits) {
                let encoded = match (value_of(p), p.data_type) {
                    (Values::Text(s), DataType::String) => decode::encode_text(p, &s),
                    (Values::Number(v), DataType::Bool) => {
                        let bit = u64::from(v != 0.0) << p.bit.unwrap_or(0);
                        decode::disassemble(bit, usize::from(p.count), p.word_order)
                    }
                    (Values::Number(v), _) => decode::encode_registers(p, v)
                        .unwrap_or_else(|e| {
                            tracing::warn!(point = %p.name, error = %e, "simulated value does not fit its registers; serving 0");
                            vec![0; usize::from(p.count)]
                        }),
                    (Values::Text(_), _) => vec![0; usize::from(p.count)],
                };
                for (k, w) in encoded.into_iter().enumerate() {
                    let addr = u32::from(p.pdu_address) + k as u32;
                    if addr >= u32::from(start) && addr < end {
                        let slot = &mut words[(addr - u32::from(start)) as usize];
                        *slot = if pass_bits { *slot | w } else { w };
                    }
                }
            }
        }
        Ok(Some(if kind == RegisterKind::Holding {
            Response::ReadHoldingRegisters(words)
        } else {
            Response::ReadInputRegisters(words)
        }))
    }
}
