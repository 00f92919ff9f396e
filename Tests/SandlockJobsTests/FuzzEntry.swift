// libFuzzer entry for the manifest front end (reader, decoder, planner, rendering).
// Compiled only with -D SANDLOCK_FUZZ, outside SwiftPM (which has no fuzzer targets):
//
//   OUT=/tmp/sandlock-jobs-fuzz; mkdir -p $OUT
//   F="-sanitize=fuzzer,address -parse-as-library -Onone -g"
//   # the two pure-Swift files of SandlockCore the manifest layer uses
//   swiftc $F -module-name SandlockCore -wmo -emit-module-path $OUT/SandlockCore.swiftmodule \
//       -c Sources/SandlockCore/Policy.swift Sources/SandlockCore/Units.swift -o $OUT/core.o
//   swiftc $F -module-name SandlockJobs -wmo -I $OUT -I Sources/CLibYAML \
//       -emit-module-path $OUT/SandlockJobs.swiftmodule \
//       -c $(find Sources/SandlockJobs -name '*.swift') -o $OUT/jobs.o
//   swiftc $F -D SANDLOCK_FUZZ -I $OUT -I Sources/CLibYAML Tests/SandlockJobsTests/FuzzEntry.swift \
//       $OUT/core.o $OUT/jobs.o -lyaml -o $OUT/fuzz-manifest
//   mkdir -p $OUT/corpus && cp jobs/*.yaml Tests/SandlockJobsTests/Fixtures/*/*.yaml $OUT/corpus/
//   $OUT/fuzz-manifest -max_total_time=300 -max_len=4096 $OUT/corpus
#if SANDLOCK_FUZZ
import SandlockJobs

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let loader = ManifestLoader(planner: Planner(currentDirectory: "/nonexistent"))
    let result = loader.load(SourceFile(path: "fuzz.yaml", text: text))
    _ = result.rendered
    if let plan = result.plan { _ = (plan.json.rendered(), plan.mermaid, plan.dot, plan.text) }
    return 0
}
#endif
