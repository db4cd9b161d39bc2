DELETE FROM predictions WHERE dataset = %(dataset)s AND score_date = %(score_date)s;
