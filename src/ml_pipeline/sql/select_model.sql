SELECT version, dataset, path, sha256, test_accuracy, status FROM models WHERE dataset = %(dataset)s AND version = %(version)s;
