-- wrk script: 16 pipelined GET / requests per connection in one write.
-- wrk counts each response; it sends the next batch when all 16 are answered.
-- Usage: wrk -t1 -c50 -d5s -s bench/wrk_pipeline.lua http://127.0.0.1:PORT/

local depth = 16

init = function(args)
   local requests = {}
   for i = 1, depth do
      requests[i] = wrk.format("GET", "/")
   end
   batch = table.concat(requests)
end

request = function()
   return batch
end
