#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| herald::fuzz::campaign_definition(data));
