"""Turns a ShapesWorld `describe` folder into a new task the default model never saw: the object's colour,
asked and answered in French ("De quelle couleur est l'objet ?" → "rouge"). Used to show `mneme tune` taking
the model from chance to a learned task with words outside its training text.

    mneme shapes generate --families describe --count 600 --seed 3 --out /tmp/describe
    python3 scripts/french_colours.py /tmp/describe /tmp/couleur
"""
import json
import os
import shutil
import sys

COLOURS = {"red": "rouge", "orange": "orange", "yellow": "jaune", "green": "vert", "blue": "bleu",
           "purple": "violet", "white": "blanc", "black": "noir"}
QUESTIONS = ["De quelle couleur est l'objet ?", "Quelle est la couleur de la forme ?", "L'objet est de quelle couleur ?"]


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    os.makedirs(target, exist_ok=True)
    shutil.copytree(os.path.join(source, "images"), os.path.join(target, "images"), dirs_exist_ok=True)
    with open(os.path.join(source, "data.jsonl")) as lines, open(os.path.join(target, "data.jsonl"), "w") as out:
        for index, line in enumerate(lines):
            item = json.loads(line)
            colour = item["answer"].split()[0]
            out.write(json.dumps({"image": item["image"], "question": QUESTIONS[index % len(QUESTIONS)],
                                  "answer": COLOURS[colour]}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
