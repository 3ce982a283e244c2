SELECT max(length(offense)) AS longest, count_if(strpos(offense, 'Theft') > 0) AS thefts
FROM {{ table('offenses') }}
