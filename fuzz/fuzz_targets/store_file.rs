#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cfgvault_fuzz::store_file(data));
