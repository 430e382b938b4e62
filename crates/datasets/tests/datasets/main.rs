//! meg-datasets integration tests: one binary (libtorch links once).

mod fixtures;
mod http;

mod download;
mod loaders;
mod real_data;
mod store;
mod synthetic;
