//! EEMUA 191 alarm-system performance figures (placeholder until written).
