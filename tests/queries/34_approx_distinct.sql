SELECT approx_distinct(precinct) AS precincts, approx_distinct(crime_against_category) AS categories
FROM {{ table('offenses') }}
