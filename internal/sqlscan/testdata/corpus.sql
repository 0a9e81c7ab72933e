SELECT 1
SELECT 1; SELECT 2
SELECT 'C:\'; SELECT 2
SELECT $$a;b$$; SELECT 2
SELECT $t$a;$$;b$t$ AS x; SELECT 'y'
SELECT ';' AS a; -- c;omment\nSELECT 2
SELECT 1 /* a /* nested ; */ still ; */ AS b; SELECT 3
SELECT E'it\'s; ok' AS s; SELECT 4
SELECT e'\\'; SELECT 5
SELECT 'it''s;' AS "we;ird""name"; SELECT 6
SELECT "a;b" FROM (SELECT 1 AS "a;b")
SELECT 1;;; SELECT 2;
  ;  
/* only ; a comment */
SELECT 1 -- trailing; comment
SELECT a$b FROM (SELECT 1 AS a$b); SELECT 7
SELECT 1.5e3, .5, 1e-2; SELECT 8
SELECT 'x'::VARCHAR; SELECT 9
SELECT E'tab\there\nnl\101\x42\\q'
SELECT 'a\nb', 'tab\t'
SELECT $$it's$$ || $q$"$q$; SELECT 10
SELECT "x" FROM (SELECT 1 AS x) t WHERE x = 1; SELECT 11
SELECT 'ünïcödé;', "名前" FROM (SELECT 1 AS "名前")
SELECT 1 AS e; SELECT 'e'
SELECT CASE WHEN 1=1 THEN 'a;' ELSE 'b' END; SELECT 12
SELECT 1 AS "a--b"; SELECT '/*'; SELECT '*/'
SELECT $a$ $b$ ; $a$; SELECT 13
SELECT 'a' -- ' ;\n; SELECT 14
SELECT E'\\'';'; SELECT 15
SELECT 'x' /* ' */ , 'y'; SELECT 16
SELECT 1 AS "$$"; SELECT $$"$$
SELECT E'\'\\\\'; SELECT e'q\'q'
SELECT 2 /* a */ /* b /* c */ */; SELECT 17
WITH t AS (SELECT ';' AS s) SELECT * FROM t; VALUES (1), (';')
SELECT 'open
SELECT $$open; SELECT 2
SELECT 1 /* open /* */ ; SELECT 2
SELECT E'open\'
SELECT 1 AS a　, 2　AS b; SELECT 2
SELECT 1　AS​x, ' ' AS y; SELECT 2 -- c
; SELECT 3
