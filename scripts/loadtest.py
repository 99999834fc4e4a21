"""Closed-loop load on POST /v1/answer: loadtest.py PORT CLIENTS SECONDS IMAGE -> one JSON line (requests, failures, p50, p99)."""
import json, sys, time, threading, urllib.request, base64
port=int(sys.argv[1]); clients=int(sys.argv[2]); seconds=float(sys.argv[3])
img=base64.b64encode(open(sys.argv[4],'rb').read()).decode()
body=json.dumps({"image":img,"question":"What colour is the circle?","max_new_tokens":4}).encode()
lat=[]; fails=[0]; stop=time.monotonic()+seconds
def worker():
    while time.monotonic()<stop:
        t=time.monotonic()
        try:
            r=urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/answer",data=body,headers={"Content-Type":"application/json"}),timeout=30)
            r.read(); lat.append(time.monotonic()-t)
        except Exception as e: fails[0]+=1
ts=[threading.Thread(target=worker) for _ in range(clients)]
[t.start() for t in ts]; [t.join() for t in ts]
lat.sort()
print(json.dumps({"clients":clients,"requests":len(lat),"failures":fails[0],"p50_ms":lat[len(lat)//2]*1000,"p99_ms":lat[int(len(lat)*0.99)]*1000}))
