SELECT version, dataset, path, sha256, test_accuracy, status FROM models WHERE version = %(version)s;
