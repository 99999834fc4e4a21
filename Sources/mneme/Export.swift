import ArgumentParser
import Foundation
import LLaVA

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export one task of a snapshot: a full Hugging Face LLaVA checkpoint (hf) or a PEFT LoRA adapter (peft).")

    @Option(help: "Snapshot directory.")
    var snapshot: String

    @Option(help: "Task to export (its merged weights).")
    var task: String

    @Option(help: "hf or peft.")
    var format: String = "hf"

    @Argument(help: "Output directory.")
    var out: String

    func run() throws {
        let loaded = try Snapshot.load(from: URL(fileURLWithPath: snapshot))
        guard let taskId = loaded.taskId(named: task) else {
            throw CommandError("unknown task \(task); the snapshot knows \(loaded.tasks.joined(separator: ", "))")
        }
        let outURL = URL(fileURLWithPath: out)
        let baseURL = loaded.manifest.map { m in
            m.base.hasPrefix("/") ? URL(fileURLWithPath: m.base) : URL(fileURLWithPath: snapshot).appendingPathComponent(m.base).standardizedFileURL
        } ?? URL(fileURLWithPath: snapshot)
        switch format {
        case "hf":
            let model = loaded.model(forTask: taskId)
            guard model.adapters == nil else { throw CommandError("task \(task) has input-dependent adapters and no merged form") }
            try model.save(to: outURL)
            for file in ["tokenizer.json", "tokenizer_config.json", "preprocessor_config.json", "mneme.json", "generation_config.json"] {
                let source = baseURL.appendingPathComponent(file)
                guard FileManager.default.fileExists(atPath: source.path) else { continue }
                let target = outURL.appendingPathComponent(file)
                try? FileManager.default.removeItem(at: target)
                try FileManager.default.copyItem(at: source, to: target)
            }
        case "peft":
            guard let adapters = loaded.adapters else { throw CommandError("the snapshot has no adapters") }
            try PEFTExport.write(adapters, task: taskId, baseModel: baseURL.path, to: outURL)
        default:
            throw ValidationError("--format must be hf or peft")
        }
        print("wrote \(out)")
    }
}
