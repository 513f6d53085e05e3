{
  "targets": [
    {
      "target_name": "sd_native",
      "sources": ["sd_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
