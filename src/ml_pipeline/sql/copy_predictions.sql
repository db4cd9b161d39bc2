-- A day's scores, in PostgreSQL's binary COPY format (scoring.py builds the rows in this column order).
COPY predictions (dataset, score_date, row_key, predicted_class, probabilities, model_version)
FROM STDIN (FORMAT binary);
