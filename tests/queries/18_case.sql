SELECT CASE
         WHEN latitude IS NULL THEN 'no location'
         WHEN latitude > 47.6 THEN 'north'
         ELSE 'south'
       END AS area,
       count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 1
