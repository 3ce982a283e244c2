SELECT count_if(crime_against_category = 'PERSON') AS person,
       count_if(crime_against_category = 'PROPERTY') AS property,
       count_if(crime_against_category = 'SOCIETY') AS society,
       count_if(crime_against_category IS NULL) AS unknown
FROM {{ table('offenses') }}
