//! The alarm engine (being written).
