//! Any bytes as a GraphQL-over-HTTP request body (and as a GET query string): parsing, limits,
//! validation and planning must answer with errors, never panic or hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    gateway::server::fuzzing::request(input);
});
