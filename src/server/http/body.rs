//! Response bytes that stay counted in the process's answer memory
//! (`GATEWAY_MAX_RESPONSE_BYTES_TOTAL`) until the last reference to them is gone — after hyper
//! has written them out, not when it takes them from the body.

use crate::database::budget::HeldMemory;
use axum::body::Bytes;

/// The bytes of `body`, owned together with what they hold of the answer memory.
pub fn held(body: String, held: HeldMemory) -> Bytes {
    Bytes::from_owner(Owner {
        data: body.into_bytes(),
        _held: held,
    })
}

struct Owner {
    data: Vec<u8>,
    _held: HeldMemory,
}

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}
