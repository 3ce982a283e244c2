SELECT count(*) AS n FROM {{ table('offenses') }}
