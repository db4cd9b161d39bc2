SELECT model, metadata FROM model_files WHERE sha256 = %(sha256)s;
