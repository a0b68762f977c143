# The fuzz targets: fuzz/fuzz_<name>.cpp, corpus in fuzz/corpus/<name>/.
set(TETHER_FUZZ_TARGETS endpoint cli_args line_codec length_codec sockperf sock_diag tls_engine proxy_reply)
