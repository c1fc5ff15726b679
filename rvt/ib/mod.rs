// SPDX-License-Identifier: GPL-2.0

//! The generic ib_core layer: safe Rust over ib_core's objects, with no rvt
//! logic in it (DESIGN.md section 2: `ib/` knows ib_core only).

mod device;
mod mmap;
mod mr;
mod object;
mod restrack;
mod udata;

pub(crate) use device::{IbDevice, IbDeviceRef, IbDriver, Unregistered};
pub(crate) use mmap::SharedBuffer;
pub(crate) use mr::IbMr;
pub(crate) use object::{Created, IbObject, Slot};
pub(crate) use restrack::ResAttrs;
pub(crate) use udata::Udata;
